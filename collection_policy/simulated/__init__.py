"""The built-in book's simulated world: how its past-due accounts truly respond to treatment.

Only the built-in book has this answer (the generator's hidden per-customer cure effect,
``core.truth``); a lender's book has none. Nothing here may reach the served model
(``tests/collection_policy/test_isolation.py``).

Modules: ``response`` (``ResponseModel``, the true outcome probabilities of a month of treatment
and draws from them), ``history`` (a simulated collection log, the stand-in for a lender's outcome
history that the expected-value rates are learned from) and ``experiment`` (one month of the
collection experiment's outcomes drawn from the truth).
"""
