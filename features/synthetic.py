"""A synthetic e-commerce instalment-credit book (v2), deterministic from a seed.

Why a generator and not a sample file: it gives every run (tests, benchmarks, `dvc repro`) a
realistic book of any size with a *known* probability of default, so the model can be measured
against the best any model of the raw data could do.

How it works, month by month, vectorised over customers:

* a latent per-customer risk propensity ``z`` (never written out) drives behaviour: spending,
  paying late by a few days, missing the minimum due and rolling deeper into arrears;
* the book is stationary: accounts open at a constant rate and close (exponential lifetimes,
  or charge-off at 180+ DPD) over the whole window, so history depth does not grow between
  the training dates and the current book;
* history before the window (left-censoring): accounts open before the data starts carry their
  tenure, a balance, sometimes a missed payment, and sometimes a delinquency the data never
  shows, which raises their risk for two years;
* point-in-time attributes: credit limits are reviewed every few months (raised for good payers,
  cut after delinquency) and income bands drift; the dated history is the ``attributes`` table;
* period effects: a monthly macro factor (``macro_factor``, with one stressed stretch inside the
  out-of-time test window) moves every account's propensity to miss payments and to default;
* hidden heterogeneity: a per-customer cure effect makes some delinquent accounts roll on more
  readily than their history shows;
* at each observation date the label probability ``true_pd`` is a fixed non-linear function of
  what the account's own data shows before that date, plus the hidden parts (prior
  delinquency, cure effect, the macro factor over the outcome window); the label is drawn from
  it, and the months after the date are then simulated consistently with the drawn label (a
  defaulter misses payments until 90+ days past due inside the outcome window, a non-defaulter
  stays below 90). So ``true_pd`` is the oracle: it knows the truth the data only partly shows.

Each customer has labelled snapshots ``outcome_months`` apart (two interleaved phases), so the
outcome windows of one customer never overlap; the current book is the last date, unlabelled.
``true_pd`` and the macro factor are truth (data/truth), never features.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.dpd import DEFAULT_DPD
from core.errors import InvalidConfig
from core.schema import ATTRIBUTES, STATEMENTS

log = logging.getLogger(__name__)

AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55+"]
INCOME_BANDS = ["low", "mid", "high", "very_high"]
CHANNELS = ["app", "web", "partner"]
REGIONS = [  # (region, IANA time zone, weight)
    ("Guangdong", "Asia/Shanghai", 0.18),
    ("Zhejiang", "Asia/Shanghai", 0.12),
    ("Jiangsu", "Asia/Shanghai", 0.11),
    ("Shandong", "Asia/Shanghai", 0.10),
    ("Sichuan", "Asia/Shanghai", 0.09),
    ("Beijing", "Asia/Shanghai", 0.08),
    ("Shanghai", "Asia/Shanghai", 0.08),
    ("Henan", "Asia/Shanghai", 0.08),
    ("Hubei", "Asia/Shanghai", 0.07),
    ("Xinjiang", "Asia/Urumqi", 0.03),
    ("Hong Kong", "Asia/Hong_Kong", 0.03),
    ("Singapore", "Asia/Singapore", 0.02),
    ("Overseas-US", "America/Los_Angeles", 0.01),
]
DUE_DAYS = 20  # a bill is due this many days after its statement (cycle close) date
MEAN_LIFETIME = 45.0  # months an account stays open on average (exponential)
MAX_PRIOR_TENURE = 120  # oldest account, months before the data starts
CHARGE_OFF = 7  # consecutive missed cycles after which an account is charged off and closes
LIMIT_REVIEW_MONTHS = 6  # each account's limit is reviewed this often
CURE_SD = 0.5  # spread of the hidden per-customer cure effect (logit of missing again)
CURE_LABEL = 0.8  # weight of the cure effect in the default logit of a past-due account
PRIOR_DELINQUENCY = 0.6  # default logit added while an unseen prior delinquency is < 24 months old
MACRO_BEHAVIOUR = 0.8  # macro factor's weight in the monthly logit of missing a payment
MACRO_LABEL = 1.0  # weight of the macro factor (mean over the outcome window) in the default logit
MACRO_STRESS = 0.8  # height of the stressed stretch
MACRO_FILE = "macro.parquet"  # the monthly macro factor, written to data/truth
EFFECTS_FILE = "customer_effects.parquet"  # the hidden cure effect per account, data/truth
#: Customers simulated together: fixed, so the book is the same whatever its partitioning.
GENERATOR_BLOCK = 100_000


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and shape of the generated book; no defaults (params.yaml states every value).

    Types and single-value ranges are checked where the values are read (the params layer);
    the rules here tie the fields together, so they hold for every caller.
    """

    n_customers: int
    months: int
    start_date: str
    observation_months: tuple[int, ...]
    outcome_months: int
    seed: int

    def __post_init__(self) -> None:
        try:
            pd.Timestamp(self.start_date)
        except (ValueError, TypeError):
            raise InvalidConfig("start_date", "must be a date", self.start_date) from None
        obs = list(self.observation_months)
        if len(obs) < 3 or obs != sorted(set(obs)):
            raise InvalidConfig(
                "observation_months",
                "must list at least 3 distinct increasing month indices (train, validation, test)",
                obs,
            )
        if obs[0] < 3:
            raise InvalidConfig("observation_months", "must start at month 3 or later", obs)
        if obs[-1] + self.outcome_months > self.months:
            raise InvalidConfig(
                "observation_months",
                f"last date + outcome_months ({self.outcome_months}) must not pass months ({self.months})",
                obs,
            )
        for phase in (obs[0::2], obs[1::2]):
            if any(b - a < self.outcome_months for a, b in zip(phase, phase[1:], strict=False)):
                raise InvalidConfig(
                    "observation_months",
                    "every other date must be at least outcome_months apart so a customer's outcome windows never overlap",
                    obs,
                )


@dataclass
class SyntheticBook:
    """The generated tables, shaped as in docs/data_contracts.md."""

    customers: pd.DataFrame
    statements: pd.DataFrame
    observations: pd.DataFrame
    true_pd: pd.DataFrame
    attributes: pd.DataFrame  # dated credit limit / income band history (RAW_ATTRIBUTES)
    macro: pd.DataFrame  # month, macro_factor: truth, never a feature
    stats: dict[str, Any] = field(default_factory=dict)
    #: account_id, slow_cure: the hidden per-customer cure effect (truth, never a feature); the
    #: collection experiment's response model reads it (`collection_policy.simulated.response`)
    effects: pd.DataFrame = field(default_factory=pd.DataFrame)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def true_default_logit(
    dpd_last: np.ndarray,
    max_dpd_6m: np.ndarray,
    late_count_12m: np.ndarray,
    util_last: np.ndarray,
    util_mean_6m: np.ndarray,
    paid_ratio_3m: np.ndarray,
    months_on_book: np.ndarray,
    months_since_delinquency: np.ndarray,
    income_band: np.ndarray,
) -> np.ndarray:
    """The generator's true log-odds of default from observed history (fixed, non-linear).

    Inputs are what the account's statements before the date show; ``income_band`` is the
    index into INCOME_BANDS; ``months_since_delinquency`` is 99 when never delinquent.
    """
    currently_late = (dpd_last > 0).astype(float)
    util_hinge = np.clip(util_last - 0.5, 0.0, None)
    revolver = (np.nan_to_num(paid_ratio_3m, nan=1.0) < 1.5).astype(float)
    f = (
        -4.3
        + 1.9 * currently_late
        + 0.9 * (dpd_last > 30)
        + 0.9 * (dpd_last > 60)
        + 0.55 * (max_dpd_6m > 30)
        + 0.75 * np.sqrt(np.minimum(late_count_12m, 9.0))
        # revolvers (paying near the minimum) are hurt by utilisation, transactors much less
        + (0.5 + 2.2 * revolver) * np.sqrt(np.clip(util_last, 0.0, 1.5))
        + 2.0 * util_hinge
        + 0.9 * util_mean_6m
        - 0.45 * np.clip(np.nan_to_num(paid_ratio_3m, nan=1.0), 0.0, 3.0)
        - 0.35 * np.log1p(np.minimum(months_on_book, 48.0)) / np.log(49.0) * 2.0
        + 0.8 * currently_late * (util_last > 0.8)
        + 0.5 * (months_since_delinquency <= 3)
        + np.array([0.35, 0.0, -0.25, -0.5])[income_band]
        # interactions and thresholds a linear scorecard cannot express
        + 1.1 * (late_count_12m >= 3) * (util_last > 0.5)
        + 0.9 * (income_band == 0) * (util_last > 0.7)
        - 0.4 * (np.nan_to_num(paid_ratio_3m, nan=0.0) > 2.0) * (util_last < 0.3)
        + 0.6 * (months_on_book < 6) * (late_count_12m >= 1)
    )
    return f


def generate_book(config: SyntheticConfig) -> SyntheticBook:
    """Simulate the book. Deterministic for a given config (seed included)."""
    blocks = list(iter_book(config))
    if len(blocks) == 1:
        blocks[0].stats = public_stats(blocks[0].stats)
        log.info("synthetic book: %s", blocks[0].stats)
        return blocks[0]
    observations = pd.concat([b.observations for b in blocks], ignore_index=True)
    order = np.lexsort(
        (observations["account_id"].to_numpy(), observations["observation_date"].to_numpy())
    )
    book = SyntheticBook(
        customers=pd.concat([b.customers for b in blocks], ignore_index=True),
        statements=pd.concat([b.statements for b in blocks], ignore_index=True),
        observations=observations.take(order).reset_index(drop=True),
        true_pd=pd.concat([b.true_pd for b in blocks], ignore_index=True),
        attributes=pd.concat([b.attributes for b in blocks], ignore_index=True),
        macro=blocks[0].macro,
        stats=public_stats(merge_stats([b.stats for b in blocks])),
        effects=pd.concat([b.effects for b in blocks], ignore_index=True),
    )
    log.info("synthetic book: %s", book.stats)
    return book


def iter_book(config: SyntheticConfig) -> Iterator[SyntheticBook]:
    """The book in blocks of `GENERATOR_BLOCK` consecutive customers, one at a time.

    Block k is drawn from its own seed (block 0 from `config.seed` itself, so a book of at most
    one block is the one the generator has always made), so the book does not depend on how it
    is later partitioned and memory is bounded by the block size, not the book size.
    """
    for first in range(0, config.n_customers, GENERATOR_BLOCK):
        block = first // GENERATOR_BLOCK
        seed = config.seed if block == 0 else [config.seed, block]
        size = min(GENERATOR_BLOCK, config.n_customers - first)
        yield _generate_block(config, np.random.default_rng(seed), first, size)


def merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The generator's stats of a whole book from those of its blocks."""
    rows = sum(p["labelled_rows"] for p in parts)
    by_date: dict[str, list[float]] = {}
    for p in parts:
        for day, (defaults, count) in p["_by_date"].items():
            acc = by_date.setdefault(day, [0.0, 0.0])
            acc[0] += defaults
            acc[1] += count
    return {
        "default_rate": float(sum(p["_defaults"] for p in parts) / rows) if rows else float("nan"),
        "mean_true_pd": float(sum(p["_true_pd_sum"] for p in parts) / rows)
        if rows
        else float("nan"),
        "labelled_rows": int(rows),
        "statement_rows": int(sum(p["statement_rows"] for p in parts)),
        "attribute_rows": int(sum(p["attribute_rows"] for p in parts)),
        "default_rate_by_date": {d: float(a[0] / a[1]) for d, a in sorted(by_date.items())},
        "_defaults": float(sum(p["_defaults"] for p in parts)),
        "_true_pd_sum": float(sum(p["_true_pd_sum"] for p in parts)),
        "_by_date": by_date,
    }


def public_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """The stats without the running sums `merge_stats` needs (what ingest writes)."""
    return {k: v for k, v in stats.items() if not k.startswith("_")}


def _generate_block(
    config: SyntheticConfig, rng: np.random.Generator, first: int, n: int
) -> SyntheticBook:
    """Customers `first` .. `first + n - 1` of the book, drawn from `rng`.

    The steps below draw from `rng` in a fixed order (customers, their lifecycle, the history
    before the data, their schedules, then month by month: labels, closures, payments, spending,
    the statement, attribute changes; last the customers' flags): the same seed gives the same
    book, byte for byte.
    """
    cal = _Calendar.of(config)
    cust = _draw_customers(rng, first, n)
    life = _draw_lifecycle(rng, cal, n)
    acc, prior_since = _draw_prior_history(rng, cust, life)
    sched = _draw_schedules(rng, n)
    block = _Block(cal, cust, life, sched, prior_since)
    hist = _Histories.empty(cal.months, n)
    out = _Records(attributes=[_opening_attributes(cal, cust, life)])
    for m in range(cal.months):
        _simulate_month(m, rng, block, acc, hist, out)

    # --- current book: every open account with history, unlabelled -------------------------
    open_now = hist.active[cal.months - 1] & ~acc.closed
    current = pd.DataFrame(
        {"account_id": cust.account_id[open_now], "observation_date": cal.month_dates[cal.months]}
    )
    statements = _assemble_statements(out.statements)
    customers = _customers_frame(rng, cust, life, delinquent_now=acc.k_miss > 0)
    attributes = _assemble_attributes(out.attributes)
    labelled = pd.concat(out.labels, ignore_index=True)
    observations, true_pd = _observations(labelled, current)
    stats = _block_stats(labelled, statements, attributes)
    log.debug("synthetic block of %d customers: %s", n, public_stats(stats))
    effects = pd.DataFrame(
        {"account_id": cust.account_id, "slow_cure": cust.slow_cure.astype(np.float64)}
    )
    return SyntheticBook(
        customers, statements, observations, true_pd, attributes, cal.macro_frame(), stats, effects
    )


@dataclass(frozen=True)
class _Calendar:
    """The months of the book: statement dates, observation dates and the macro factor."""

    months: int
    outcome: int
    obs_months: list[int]
    start: pd.Timestamp
    month_dates: pd.DatetimeIndex  # month starts, + the current book date
    month_days: np.ndarray  # the same as day numbers
    macro: np.ndarray
    obs_phase: dict[int, int]  # observation month -> the phase labelled then (they alternate)

    @classmethod
    def of(cls, config: SyntheticConfig) -> _Calendar:
        months = config.months
        outcome = config.outcome_months
        obs_months = list(config.observation_months)
        start = pd.Timestamp(config.start_date).normalize().replace(day=1)
        month_dates = pd.date_range(start, periods=months + 1, freq="MS")  # + current book date
        month_days = month_dates.values.astype("datetime64[D]").astype(np.int64)
        macro = macro_factor(months + outcome, obs_months, outcome)
        obs_phase = {m: i % 2 for i, m in enumerate(obs_months)}
        return cls(months, outcome, obs_months, start, month_dates, month_days, macro, obs_phase)

    def macro_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "month": pd.date_range(self.start, periods=len(self.macro), freq="MS").astype(
                    "datetime64[ns]"
                ),
                "macro_factor": self.macro,
            }
        )


@dataclass(frozen=True)
class _Customers:
    """Who the customers are: their fields at account open and their hidden traits."""

    account_id: np.ndarray
    age_idx: np.ndarray
    city_tier: np.ndarray
    income0: np.ndarray  # income band index at open (or at the data start)
    limit0: np.ndarray  # credit limit at open (or at the data start)
    channel_idx: np.ndarray
    region_idx: np.ndarray
    z: np.ndarray  # latent risk propensity, never written out
    slow_cure: np.ndarray  # hidden cure effect (truth)
    spend: np.ndarray  # spending scale

    @property
    def n(self) -> int:
        return len(self.account_id)


def _draw_customers(rng: np.random.Generator, first: int, n: int) -> _Customers:
    account_id = np.arange(first + 1, first + n + 1, dtype=np.int64) + 10_000_000
    age_idx = rng.choice(len(AGE_BANDS), n, p=[0.17, 0.36, 0.24, 0.14, 0.09])
    city_tier = rng.choice(4, n, p=[0.2, 0.3, 0.3, 0.2]).astype(np.int8) + 1
    income_idx = rng.choice(len(INCOME_BANDS), n, p=[0.35, 0.4, 0.2, 0.05])
    channel_idx = rng.choice(len(CHANNELS), n, p=[0.6, 0.25, 0.15])
    region_w = np.array([r[2] for r in REGIONS])
    region_idx = rng.choice(len(REGIONS), n, p=region_w / region_w.sum())
    base_limit = np.array([2000.0, 5000.0, 10000.0, 20000.0])[income_idx]
    credit_limit = np.round(base_limit * rng.lognormal(0.0, 0.35, n) / 100.0) * 100.0
    credit_limit = np.maximum(credit_limit, 500.0)

    # latent propensities: attributes shift risk a little, most of it is individual
    z = (
        rng.normal(0.0, 1.0, n)
        + np.array([0.35, 0.1, 0.0, -0.1, -0.15])[age_idx]
        + np.array([0.25, 0.0, -0.2, -0.35])[income_idx]
        + np.array([0.0, 0.05, 0.3])[channel_idx]
    )
    # hidden heterogeneity: how readily a customer cures after a missed payment (the history
    # shows it only through past episodes)
    slow_cure = rng.normal(0.0, CURE_SD, n)
    spend = rng.lognormal(0.0, 0.5, n) * np.array([0.7, 1.0, 1.5, 2.2])[income_idx]
    return _Customers(
        account_id,
        age_idx,
        city_tier,
        income_idx,
        credit_limit,
        channel_idx,
        region_idx,
        z,
        slow_cure,
        spend,
    )


@dataclass(frozen=True)
class _Lifecycle:
    """When each account opens and closes (months from the data start)."""

    pre_window: np.ndarray  # open before the data starts
    signup_month: np.ndarray
    close_month: np.ndarray
    signup_date: pd.DatetimeIndex
    tenure0: np.ndarray  # months on book at the data start


def _draw_lifecycle(rng: np.random.Generator, cal: _Calendar, n: int) -> _Lifecycle:
    """A stationary book: accounts open and close over the whole window.

    Lifetimes are exponential (mean MEAN_LIFETIME months) and openings arrive at a constant
    rate, so the tenure of the open book has the same distribution at every date. Of the
    accounts seen in the data, a share mean/(mean + span) was already open at the start.
    """
    span = cal.obs_months[-1] + cal.outcome
    pre_window = rng.random(n) < MEAN_LIFETIME / (MEAN_LIFETIME + span)
    tenure_draw = np.minimum(np.ceil(rng.exponential(MEAN_LIFETIME, n)), MAX_PRIOR_TENURE)
    signup_month = np.where(pre_window, -tenure_draw, rng.integers(0, span, n)).astype(np.int64)
    close_month = np.where(pre_window, 0, signup_month) + np.ceil(
        rng.exponential(MEAN_LIFETIME, n)
    ).astype(np.int64)
    signup_offset_days = rng.integers(0, 28, n)
    earliest = int(signup_month.min())
    signup_date = pd.DatetimeIndex(
        [cal.start + pd.DateOffset(months=int(m)) for m in range(earliest, cal.months + 1)]
    )
    signup_date = signup_date[signup_month - earliest] - pd.to_timedelta(
        signup_offset_days + 1, unit="D"
    )
    tenure0 = np.where(signup_month < 0, -signup_month, 0)
    return _Lifecycle(pre_window, signup_month, close_month, signup_date, tenure0)


@dataclass
class _Accounts:
    """The accounts' state, carried from month to month."""

    credit_limit: np.ndarray
    income_idx: np.ndarray
    outstanding: np.ndarray
    k_miss: np.ndarray  # consecutive missed cycles
    min_due: np.ndarray
    overdue: np.ndarray
    plans: np.ndarray
    closed: np.ndarray
    forced: np.ndarray  # 0 natural, 1 must default, -1 must not default
    forced_until: np.ndarray
    forced_start: np.ndarray


def _draw_prior_history(
    rng: np.random.Generator, cust: _Customers, life: _Lifecycle
) -> tuple[_Accounts, np.ndarray]:
    """History before the data (left-censoring): the accounts' state at the data start, and how
    many months before it an unseen prior delinquency happened (10 000: none).

    Some old accounts were delinquent before the data starts: it raises their risk for two
    years, and the data shows it only through behaviour that z also drives.
    """
    n = cust.n
    pre_window, tenure0, z = life.pre_window, life.tenure0, cust.z
    credit_limit = cust.limit0.copy()
    p_prior = _sigmoid(-1.6 + 0.9 * z) * np.minimum(tenure0 / 24.0, 1.0)
    had_prior = pre_window & (rng.random(n) < p_prior)
    prior_since = np.where(had_prior, rng.integers(1, 25, n), 10_000)  # months before month 0
    # a few start the window already behind on payments, with a balance carried in
    utilisation0 = np.clip(rng.beta(1.5, 3.0, n) * (1.0 + 0.25 * z), 0.0, 1.0)
    outstanding = np.where(pre_window, np.round(utilisation0 * credit_limit, 2), 0.0)
    k_miss = np.where(
        pre_window & (rng.random(n) < _sigmoid(-4.2 + 1.0 * z + 1.5 * had_prior)), 1, 0
    ).astype(np.int16)
    min_due = np.where(outstanding > 0, np.round(np.maximum(10.0, 0.1 * outstanding), 2), 0.0)
    min_due = np.minimum(min_due, outstanding)
    overdue = np.where(k_miss > 0, min_due, 0.0)
    accounts = _Accounts(
        credit_limit=credit_limit,
        income_idx=cust.income0.copy(),
        outstanding=outstanding,
        k_miss=k_miss,
        min_due=min_due,
        overdue=overdue,
        plans=np.zeros(n, dtype=np.int8),
        closed=np.zeros(n, dtype=bool),
        forced=np.zeros(n, dtype=np.int8),
        forced_until=np.full(n, -1),
        forced_start=np.full(n, -1),
    )
    return accounts, prior_since


@dataclass(frozen=True)
class _Schedules:
    """Each customer's phase (labelled at observation_months[phase::2]) and limit review month."""

    phase: np.ndarray
    review_phase: np.ndarray


def _draw_schedules(rng: np.random.Generator, n: int) -> _Schedules:
    phase = rng.integers(0, 2, n)
    review_phase = rng.integers(0, LIMIT_REVIEW_MONTHS, n)
    return _Schedules(phase, review_phase)


def _opening_attributes(
    cal: _Calendar, cust: _Customers, life: _Lifecycle
) -> dict[str, np.ndarray]:
    """The first row of each account's dated history: its values at open (older accounts: the
    day before the data starts)."""
    return {
        "account_id": cust.account_id,
        "day": np.where(life.pre_window, cal.month_days[0] - 1, _days_of(life.signup_date)),
        "credit_limit": cust.limit0,
        "income": cust.income0,
    }


@dataclass(frozen=True)
class _Block:
    """What stays fixed while the block's months are simulated."""

    cal: _Calendar
    cust: _Customers
    life: _Lifecycle
    sched: _Schedules
    prior_since: np.ndarray  # months before the data start of an unseen delinquency


@dataclass(frozen=True)
class _Histories:
    """What each month showed, month x customer: the true PD reads the months before a date."""

    dpd: np.ndarray
    util: np.ndarray
    late: np.ndarray
    ratio: np.ndarray
    active: np.ndarray

    @classmethod
    def empty(cls, months: int, n: int) -> _Histories:
        f32 = np.float32
        return cls(
            dpd=np.zeros((months, n), dtype=np.int16),
            util=np.full((months, n), np.nan, dtype=f32),
            late=np.zeros((months, n), dtype=bool),
            ratio=np.full((months, n), np.nan, dtype=f32),
            active=np.zeros((months, n), dtype=bool),
        )


@dataclass
class _Records:
    """The rows the simulation writes, month by month."""

    statements: list[dict[str, np.ndarray]] = field(default_factory=list)
    labels: list[pd.DataFrame] = field(default_factory=list)
    attributes: list[dict[str, np.ndarray]] = field(default_factory=list)


def _simulate_month(
    m: int,
    rng: np.random.Generator,
    block: _Block,
    acc: _Accounts,
    hist: _Histories,
    out: _Records,
) -> None:
    """Month m: labels at an observation date, closures, the cycle's payment, new spending, the
    statement, then the attribute changes effective after it."""
    cal, cust, life = block.cal, block.cust, block.life
    active = (life.signup_month <= m) & ~acc.closed
    has_prev = (life.signup_month < m) & ~acc.closed

    if m in cal.obs_phase:
        out.labels.append(_label_snapshot(m, rng, block, acc, hist, has_prev))
    expired = acc.forced_until < m
    acc.forced[expired] = 0

    leaving = _leaving(m, life, acc)
    acc.closed |= leaving
    active &= ~leaving
    has_prev &= ~leaving

    pay = _draw_payments(m, rng, cal, cust, acc, has_prev)
    _settle(acc, pay, has_prev)
    bill = _draw_spending(rng, cust, acc, active)
    dpd = _close_statement(m, cal, acc, active)

    hist.dpd[m] = np.where(active, dpd, 0)
    hist.util[m] = np.where(active, acc.outstanding / acc.credit_limit, np.nan)
    hist.late[m] = pay.late_or_missed
    hist.ratio[m] = pay.ratio
    hist.active[m] = active
    out.statements.append(_statement_rows(m, cal, cust, acc, pay, bill, dpd, active))
    out.attributes.append(_review_attributes(m, rng, block, acc, hist, active))


def _label_snapshot(
    m: int,
    rng: np.random.Generator,
    block: _Block,
    acc: _Accounts,
    hist: _Histories,
    has_prev: np.ndarray,
) -> pd.DataFrame:
    """Labels at an observation date, from history rows < m only: draw each eligible account's
    default from its true PD and force the months after the date to agree with the label."""
    cal, cust, life, sched = block.cal, block.cust, block.life, block.sched
    n = cust.n
    eligible = (
        (sched.phase == cal.obs_phase[m])
        & has_prev
        & hist.active[m - 1]
        & (hist.dpd[m - 1] < DEFAULT_DPD)
    )
    logit = _history_logit(
        m, hist.dpd, hist.util, hist.late, hist.ratio, hist.active, life.tenure0, acc.income_idx
    )
    logit = logit + _truth_logit(
        m, hist.dpd, block.prior_since, cust.slow_cure, cal.macro, cal.outcome
    )
    p_true = _sigmoid(logit)
    draw = rng.random(n) < p_true
    idx = np.flatnonzero(eligible)
    label = draw[idx]
    acc.forced[idx] = np.where(label, 1, -1)
    acc.forced_until[idx] = m + cal.outcome - 1
    acc.forced_start[idx] = m + rng.integers(0, 3, idx.size)
    return pd.DataFrame(
        {
            "account_id": cust.account_id[idx],
            "observation_date": cal.month_dates[m],
            "default": label.astype(np.int8),
            "true_pd": p_true[idx],
        }
    )


def _leaving(m: int, life: _Lifecycle, acc: _Accounts) -> np.ndarray:
    """Accounts that close now: by choice when their lifetime ends and they owe nothing overdue
    (never while they must still default, so every label is observed), or charged off."""
    k_miss, forced = acc.k_miss, acc.forced
    return (
        (life.signup_month < m)
        & ~acc.closed
        & (((m >= life.close_month) & (k_miss == 0) & (forced != 1)) | (k_miss >= CHARGE_OFF))
    )


@dataclass(frozen=True)
class _Payments:
    """The payment during the cycle that closes now (towards last cycle's bill)."""

    miss: np.ndarray
    pays: np.ndarray
    full: np.ndarray
    paid: np.ndarray
    pay_day: np.ndarray
    late_or_missed: np.ndarray
    ratio: np.ndarray  # paid / minimum due


def _draw_payments(
    m: int,
    rng: np.random.Generator,
    cal: _Calendar,
    cust: _Customers,
    acc: _Accounts,
    has_prev: np.ndarray,
) -> _Payments:
    n = cust.n
    z, k_miss, forced = cust.z, acc.k_miss, acc.forced
    min_due, outstanding, month_days = acc.min_due, acc.outstanding, cal.month_days
    defaulted = k_miss >= 4
    p_miss = _sigmoid(
        -3.85
        + 1.05 * z
        + MACRO_BEHAVIOUR * cal.macro[m]
        + (1.7 + cust.slow_cure) * (k_miss > 0)
        + 0.6 * (k_miss > 1)
    )
    p_miss = np.where(defaulted, 0.93, p_miss)
    miss = rng.random(n) < p_miss
    must_miss = (forced == 1) & (m >= acc.forced_start)
    miss = np.where(must_miss, True, miss)
    # a non-defaulter in its window never reaches 90+: pay before the 4th miss
    miss = np.where((forced == -1) & (k_miss >= 3), False, miss)
    miss &= has_prev & (min_due > 0)

    pays = has_prev & ~miss & (min_due > 0)
    p_full = _sigmoid(1.2 - 0.9 * z)
    full = rng.random(n) < p_full
    between = rng.random(n)
    paid = np.where(
        full,
        outstanding,
        np.where(between < 0.5, min_due, min_due + (outstanding - min_due) * between),
    )
    paid = np.where(pays, np.minimum(np.maximum(paid, min_due), outstanding), 0.0)
    partial = miss & (rng.random(n) < 0.3)
    paid = np.where(partial, min_due * rng.uniform(0.1, 0.6, n), paid)
    paid = np.round(paid, 2)

    prev_due_day = month_days[m - 1] + DUE_DAYS if m > 0 else month_days[0] - 11
    late_few = pays & (rng.random(n) < _sigmoid(-2.3 + 0.9 * z))
    pay_day = np.where(
        late_few,
        prev_due_day + rng.integers(1, 10, n),
        prev_due_day - rng.integers(0, 16, n),
    )
    pay_day = np.where(partial, month_days[m] - rng.integers(1, 20, n), pay_day)
    pay_day = np.minimum(pay_day, month_days[m] - 1)

    late_or_missed = has_prev & (min_due > 0) & (late_few | miss)
    ratio = np.where(has_prev & (min_due > 0), paid / np.maximum(min_due, 1e-9), np.nan)
    return _Payments(miss, pays, full, paid, pay_day, late_or_missed, ratio)


def _settle(acc: _Accounts, pay: _Payments, has_prev: np.ndarray) -> None:
    """Apply the payment: cure or roll the arrears, charge interest and late fees."""
    cured = pay.pays
    acc.k_miss = np.where(cured, 0, np.where(pay.miss, acc.k_miss + 1, acc.k_miss)).astype(np.int16)
    acc.overdue = np.where(
        cured, 0.0, np.where(pay.miss, np.round(acc.min_due - pay.paid, 2), acc.overdue)
    )
    interest = np.where(
        has_prev & ~pay.full, 0.0125 * np.maximum(acc.outstanding - pay.paid, 0.0), 0.0
    )
    late_fee = np.where(pay.miss, np.round(np.minimum(0.05 * acc.min_due, 50.0), 2), 0.0)
    acc.outstanding = np.maximum(acc.outstanding - pay.paid, 0.0) + interest + late_fee
    acc.overdue = acc.overdue + late_fee


def _draw_spending(
    rng: np.random.Generator, cust: _Customers, acc: _Accounts, active: np.ndarray
) -> np.ndarray:
    """New spending (the cycle's bill, within the limit) and instalment plans; returns the bill."""
    n = cust.n
    frozen = acc.k_miss >= 2
    spends = active & ~frozen & ((rng.random(n) < 0.8) | (acc.forced == 1))
    bill = rng.lognormal(np.log(320.0), 0.85, n) * cust.spend
    bill = np.where(
        spends, np.minimum(bill, np.maximum(acc.credit_limit - acc.outstanding, 0.0)), 0.0
    )
    bill = np.round(bill, 2)
    plans = np.where(active & (rng.random(n) < 1.0 / 9.0), np.maximum(acc.plans - 1, 0), acc.plans)
    new_plan = spends & (bill > 500) & (rng.random(n) < _sigmoid(-3.0 + 0.6 * cust.z))
    acc.plans = np.minimum(plans + new_plan, 6).astype(np.int8)
    acc.outstanding = np.round(acc.outstanding + bill, 2)
    return bill


def _close_statement(m: int, cal: _Calendar, acc: _Accounts, active: np.ndarray) -> np.ndarray:
    """The statement closes: the new minimum due; returns days past due (oldest unpaid due)."""
    current_part = np.maximum(acc.outstanding - acc.overdue, 0.0)
    new_min = np.where(
        current_part > 0, np.minimum(current_part, np.maximum(10.0, 0.1 * current_part)), 0.0
    )
    acc.min_due = np.where(active, np.round(acc.overdue + new_min, 2), 0.0)

    month_days = cal.month_days
    oldest_due_month = m - acc.k_miss.astype(np.int64)
    due_day_oldest = month_days[np.clip(oldest_due_month, 0, None)] + DUE_DAYS
    due_day_oldest = np.where(oldest_due_month < 0, month_days[0] - 11, due_day_oldest)
    return np.where(acc.k_miss > 0, np.maximum(month_days[m] - due_day_oldest, 1), 0).astype(
        np.int16
    )


def _statement_rows(
    m: int,
    cal: _Calendar,
    cust: _Customers,
    acc: _Accounts,
    pay: _Payments,
    bill: np.ndarray,
    dpd: np.ndarray,
    active: np.ndarray,
) -> dict[str, np.ndarray]:
    """This month's statement of every active account."""
    sel = np.flatnonzero(active)
    has_payment = pay.paid > 0
    pay_dates = np.where(has_payment[sel], pay.pay_day[sel], np.iinfo(np.int64).min)
    return {
        "account_id": cust.account_id[sel],
        "statement_date": np.full(sel.size, cal.month_days[m], dtype=np.int64),
        "bill_amount": bill[sel],
        "min_due": acc.min_due[sel],
        "paid_amount": pay.paid[sel],
        "payment_day": pay_dates,
        "days_past_due": dpd[sel],
        "overdue_amount": np.round(acc.overdue[sel], 2),
        "outstanding_balance": acc.outstanding[sel],
        "instalment_plans": acc.plans[sel],
    }


def _review_attributes(
    m: int,
    rng: np.random.Generator,
    block: _Block,
    acc: _Accounts,
    hist: _Histories,
    active: np.ndarray,
) -> dict[str, np.ndarray]:
    """Point-in-time attributes, effective after this statement: limit reviews every
    LIMIT_REVIEW_MONTHS (good payers get increases, delinquent accounts cuts); income bands
    drift now and then. Returns the changed rows."""
    cal, cust = block.cal, block.cust
    n = cust.n
    k_miss, credit_limit = acc.k_miss, acc.credit_limit
    review = active & (block.sched.review_phase == m % LIMIT_REVIEW_MONTHS) & (m >= 1)
    late_6m = hist.late[max(0, m - 5) : m + 1].sum(axis=0)
    util_now = np.nan_to_num(hist.util[m].astype(float), nan=0.0)
    raise_ = review & (k_miss == 0) & (late_6m == 0) & (util_now > 0.3)
    raise_ &= rng.random(n) < 0.5
    cut = review & ((k_miss > 0) | (late_6m >= 2)) & (rng.random(n) < 0.6)
    factor = np.where(raise_, rng.choice([1.2, 1.5], n), np.where(cut, 0.7, 1.0))
    new_limit = np.maximum(np.round(credit_limit * factor / 100.0) * 100.0, 500.0)
    limit_changed = (raise_ | cut) & (new_limit != credit_limit)
    acc.credit_limit = np.where(limit_changed, new_limit, credit_limit)
    income_idx = acc.income_idx
    move = rng.random(n)
    up = active & (move < 0.004) & (income_idx < len(INCOME_BANDS) - 1)
    down = active & (move > 0.998) & (income_idx > 0)
    acc.income_idx = (income_idx + up - down).astype(income_idx.dtype)
    changed = np.flatnonzero(limit_changed | up | down)
    return {
        "account_id": cust.account_id[changed],
        "day": cal.month_days[m] + rng.integers(1, 28, n)[changed],
        "credit_limit": acc.credit_limit[changed],
        "income": acc.income_idx[changed],
    }


def _customers_frame(
    rng: np.random.Generator, cust: _Customers, life: _Lifecycle, delinquent_now: np.ndarray
) -> pd.DataFrame:
    """The customers table, with the policy's flags drawn last (delinquent accounts more often
    dispute or ask for hardship relief)."""
    n = cust.n
    customers = pd.DataFrame(
        {
            "account_id": cust.account_id,
            "signup_date": life.signup_date.values.astype("datetime64[ns]"),
            "age_band": pd.Categorical.from_codes(cust.age_idx, AGE_BANDS).astype(str),
            "city_tier": cust.city_tier,
            # values at account open, or at the data start for older accounts; the dated
            # history is the attributes table
            "income_band": pd.Categorical.from_codes(cust.income0, INCOME_BANDS).astype(str),
            "credit_limit": cust.limit0,
            "channel": pd.Categorical.from_codes(cust.channel_idx, CHANNELS).astype(str),
            "region": np.array([r[0] for r in REGIONS])[cust.region_idx],
            "timezone": np.array([r[1] for r in REGIONS])[cust.region_idx],
        }
    )
    customers["dispute"] = rng.random(n) < np.where(delinquent_now, 0.03, 0.005)
    customers["hardship"] = rng.random(n) < np.where(delinquent_now, 0.05, 0.005)
    customers["opt_out"] = rng.random(n) < 0.01
    customers["deceased"] = rng.random(n) < 0.001
    return customers


def _observations(
    labelled: pd.DataFrame, current: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The observations (labelled snapshots, then the unlabelled current book) and the truth."""
    observations = pd.concat(
        [
            labelled[["account_id", "observation_date", "default"]].assign(is_current=False),
            current.assign(default=pd.NA, is_current=True),
        ],
        ignore_index=True,
    )
    observations["default"] = observations["default"].astype("Int8")
    observations["observation_date"] = observations["observation_date"].astype("datetime64[ns]")
    true_pd = labelled[["account_id", "observation_date", "true_pd"]].copy()
    true_pd["observation_date"] = true_pd["observation_date"].astype("datetime64[ns]")
    return observations, true_pd


def _block_stats(
    labelled: pd.DataFrame, statements: pd.DataFrame, attributes: pd.DataFrame
) -> dict[str, Any]:
    """The block's stats, with the running sums `merge_stats` combines across blocks."""
    by_date = labelled.groupby("observation_date")["default"].agg(["sum", "count"])
    return merge_stats(
        [
            {
                "labelled_rows": int(len(labelled)),
                "statement_rows": int(len(statements)),
                "attribute_rows": int(len(attributes)),
                "_defaults": float(labelled["default"].sum()),
                "_true_pd_sum": float(labelled["true_pd"].sum()),
                "_by_date": {
                    str(d.date()): [float(r["sum"]), float(r["count"])]
                    for d, r in by_date.iterrows()
                },
            }
        ]
    )


def _history_logit(
    m: int,
    dpd_hist: np.ndarray,
    util_hist: np.ndarray,
    late_hist: np.ndarray,
    ratio_hist: np.ndarray,
    active_hist: np.ndarray,
    tenure0: np.ndarray,
    income_idx: np.ndarray,
) -> np.ndarray:
    """Summaries of rows before month m that the true PD depends on."""
    lo6, lo12, lo3 = max(0, m - 6), max(0, m - 12), max(0, m - 3)
    dpd_last = dpd_hist[m - 1].astype(float)
    max_dpd_6m = dpd_hist[lo6:m].max(axis=0).astype(float)
    late_count_12m = late_hist[lo12:m].sum(axis=0).astype(float)
    util_last = np.nan_to_num(util_hist[m - 1].astype(float), nan=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        util_mean_6m = np.nan_to_num(np.nanmean(util_hist[lo6:m], axis=0), nan=0.0)
        paid_ratio_3m = np.nanmean(ratio_hist[lo3:m], axis=0)
    months_on_book = active_hist[:m].sum(axis=0) + tenure0
    delinquent = dpd_hist[:m] > 0
    ever = delinquent.any(axis=0)
    last = m - 1 - np.argmax(delinquent[::-1], axis=0)
    months_since = np.where(ever, m - last, 99)
    return true_default_logit(
        dpd_last,
        max_dpd_6m,
        late_count_12m,
        util_last,
        util_mean_6m,
        paid_ratio_3m,
        months_on_book.astype(float),
        months_since.astype(float),
        income_idx,
    )


def _assemble_statements(rows: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """Concatenate the monthly rows into one table sorted by (account, date), column by column
    so that at most one extra column is alive at a time (this is the generator's memory peak)."""
    ids = np.concatenate([r["account_id"] for r in rows])
    order = np.argsort(
        ids, kind="stable"
    )  # rows were appended month by month: stable keeps dates ordered
    out: dict[str, np.ndarray] = {"account_id": ids[order]}
    del ids
    for key in list(rows[0]):
        if key == "account_id":
            continue
        col = np.concatenate([r.pop(key) for r in rows])[order]
        if key == "statement_date":
            day = col
            out["statement_date"] = day.astype("datetime64[D]").astype("datetime64[ns]")
            out["due_date"] = (day + DUE_DAYS).astype("datetime64[D]").astype("datetime64[ns]")
        elif key == "payment_day":
            pay = col.astype("datetime64[D]").astype("datetime64[ns]")
            pay[col == np.iinfo(np.int64).min] = np.datetime64("NaT")
            out["payment_date"] = pay
        else:
            out[key] = col
    rows.clear()
    return pd.DataFrame({c: out.pop(c) for c in STATEMENTS.names}, copy=False)


def macro_factor(length: int, observation_months: list[int], outcome_months: int) -> np.ndarray:
    """The monthly macro factor (0 = normal): a gentle cycle plus one stressed stretch.

    The stress starts the month after the second-to-last observation date and lasts
    ``outcome_months``, so it falls inside the outcome windows of the out-of-time test dates.
    Deterministic and independent of the seed, so a longer book keeps every earlier month.
    """
    t = np.arange(length, dtype=np.float64)
    values = 0.2 * np.sin(2.0 * np.pi * t / 24.0)
    begin = observation_months[-2] + 1
    bump = ((t >= begin) & (t < begin + outcome_months)).astype(np.float64)
    bump[(t == begin - 1) | (t == begin + outcome_months)] = 0.5
    return values + MACRO_STRESS * bump


def _truth_logit(
    m: int,
    dpd_hist: np.ndarray,
    prior_since: np.ndarray,
    slow_cure: np.ndarray,
    macro: np.ndarray,
    outcome_months: int,
) -> np.ndarray:
    """The parts of the default logit the data does not show: an unseen prior delinquency,
    the customer's cure effect while past due, and the macro factor over the outcome window."""
    prior_recent = (prior_since + m) <= 24
    past_due = dpd_hist[m - 1] > 0
    return (
        PRIOR_DELINQUENCY * prior_recent
        + CURE_LABEL * slow_cure * past_due
        + MACRO_LABEL * float(macro[m : m + outcome_months].mean())
    )


def _days_of(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.values.astype("datetime64[D]").astype(np.int64)


def _assemble_attributes(rows: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """The dated attribute history, one row per (account, effective date), sorted."""
    ids = np.concatenate([r["account_id"] for r in rows])
    day = np.concatenate([r["day"] for r in rows]).astype(np.int64)
    order = np.lexsort((day, ids))
    income = np.concatenate([r["income"] for r in rows])[order]
    frame = pd.DataFrame(
        {
            "account_id": ids[order],
            "effective_date": day[order].astype("datetime64[D]").astype("datetime64[ns]"),
            "credit_limit": np.concatenate([r["credit_limit"] for r in rows])[order].astype(
                np.float64
            ),
            "income_band": np.array(INCOME_BANDS, dtype=object)[income],
        }
    )
    return frame[ATTRIBUTES.names]
