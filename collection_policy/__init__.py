"""The collection policy as data: typed, validated once at load so the tier engine can trust it.

A policy has three parts:

* **tiers** (T0..Tn, ordered by intensity): channels, contact caps, offer, entry minima and the
  cure-rate / cost assumptions of the expected-value mode;
* **entry rules**: conjunctions of interval / flag / grade conditions on the account, each sending
  the account to one tier. Semantics: rules are tried in ascending ``priority``; the first that
  matches decides (list order breaks nothing: rules sharing a priority must be mutually exclusive,
  checked exactly, so their order cannot matter). Validation proves on the exact rule grid that
  every possible account matches some rule (no gap), that no two rules of one priority overlap,
  that every rule can decide some account, and that the tier never falls as ``monotone_in`` fields
  (default PD, days past due, overdue amount) rise;
* **guardrails**: hard limits applied after the rules and in every mode. Statutory ceilings are in
  code (``LEGAL_LIMITS``): a policy file may tighten them, never loosen them.

Modules: ``vocabulary`` (fields, channels, the law), ``policy`` (the typed policy), ``loader``
(file -> validated policy), ``rulespace`` (the exact rule-space proof), ``render`` (the reviewer's
summary), ``engine`` (``assign_tiers``), ``ev_rates`` (the learned expected-value rates the engine
reads, their file and segments), ``population`` (which accounts, joined by key), ``backtest``
(observed bad rate per tier), ``tiers_plot`` (summaries, headline, figure), ``experiment`` (the
collection experiment: arms, holdout, the arm report from one month's outcomes),
``rate_learning`` (``learn_ev_rates``: the rates from an outcome history) and ``tiering``
(``run_tiers`` and ``run_collection_rates``: the calls behind the ``tiers`` and
``collection_rates`` stages).

``simulated/`` is the built-in book's simulated world (the true response to treatment, a simulated
outcome history, the experiment's outcomes drawn from the truth). The served model runs
``engine`` and ``ev_rates`` and never reaches ``simulated/`` or ``experiment``
(``tests/collection_policy/test_isolation.py``).
"""
