"""The collection-tier engine: entry rules, hard guardrails and expected-value mode, vectorised.

``assign_tiers(accounts, policy, mode)`` is pure and works on a whole DataFrame at once; the DVC
stage and the served model call exactly it. The order of operations is fixed:

1. the first matching entry rule (by priority) proposes a tier (``rule_tier`` before guardrails);
2. guardrails compute, per account, the set of tiers it may be in (stop-contact flags, the
   suspected-fraud and write-off routes, first-time small overdue, small balance, the call floor,
   tier entry minima). Rules mode takes the highest allowed tier at or below the proposal;
   expected-value mode takes the allowed tier with the largest expected recovery minus contact cost;
3. channels come from the chosen tier (or the deciding rule's override when the rule's tier stands),
   are replaced by the handling route's (the first stop-contact flag set, else suspected fraud, else
   a write-off recommendation), and are then stripped of home visits the field-visit guardrail does
   not permit, of any third-party channel and of calls below the call floor; the credit-bureau
   notice is added in its window (from its DPD until negative reporting may start) unless the
   handling route holds reporting;
4. caps spell out message and call limits and the contact window in the account's own time zone.

The ``repeat_or_wilful`` flag is derived from the policy's thresholds before the rules run (entry
rules read it to escalate sooner); such accounts in standard handling are labelled with its route.

Every row records the deciding rule and the name of every guardrail that capped or changed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from collection_policy.ev_rates import EVRates
from collection_policy.policy import CollectionPolicy
from collection_policy.rulespace import first_match
from collection_policy.vocabulary import (
    CHANNEL_INDEX,
    CHANNELS,
    MODES,
    STOP_FLAGS,
    resolve_timezone,
)
from core.contracts import FEATURE_TO_POLICY, POLICY_INPUTS
from core.errors import DataValidationError

#: Input columns of ``assign_tiers`` (engine names) and what they mean: the scored PD columns,
#: then the policy inputs as `core.contracts.POLICY_INPUTS` declares them.
ACCOUNT_COLUMNS: dict[str, str] = {
    "pd": "calibrated PD in [0, 1]",
    "score": "scorecard points",
    "grade": "master-scale grade (str)",
    **{p.name: p.description for p in POLICY_INPUTS},
}

#: Numeric policy inputs (amounts, day counts), in contract order.
_NUMERIC_POLICY = tuple(p.name for p in POLICY_INPUTS if p.dtype in ("int", "float"))
#: Inputs that must be finite whatever the rules read.
NUMERIC_INPUTS = ("pd", *_NUMERIC_POLICY)
#: Compliance flags: never guessed, so a missing value is an error.
FLAG_INPUTS = tuple(p.name for p in POLICY_INPUTS if p.dtype == "bool")

#: Every guardrail name a row may record, in the order they are listed.
GUARDRAILS: tuple[str, ...] = (
    *(f"stop_contact_{f}" for f in STOP_FLAGS),
    "first_time_small_overdue",
    "small_balance",
    "tier_entry_minimum",
    "soft_tier_no_calls",
    "no_field_visit",
    "no_third_party_contact",
    "contact_window",
    "unknown_timezone",
    "call_caps",
    # policy v2 (issue 17); appended so existing guardrail strings keep their order
    "call_floor",
    "suspected_fraud",
    "write_off_recommendation",
    "credit_bureau_notice",
    "credit_report_hold",
)
_G = {name: i for i, name in enumerate(GUARDRAILS)}
#: Policy inputs that are counts: whole and never negative.
COUNT_INPUTS = tuple(p.name for p in POLICY_INPUTS if p.dtype == "int")

OUTPUT_COLUMNS = (
    "tier",
    "tier_name",
    "handling",
    "channels",
    "caps",
    "offer",
    "rule",
    "guardrails",
    "rule_tier",
    "ev_tier",
    "ev_value",
    "mode",
)


#: Policy inputs that are amounts in the book's currency (engine names).
AMOUNT_INPUTS = tuple(p.name for p in POLICY_INPUTS if p.amount)


def in_policy_currency(
    frame: pd.DataFrame,
    currency: str | None,
    fx_to_policy: float | None,
    policy: CollectionPolicy,
    columns: tuple[str, ...] = AMOUNT_INPUTS,
) -> pd.DataFrame:
    """The amounts of `frame` (`columns` present in it) in the policy's currency, so that the
    policy's floors (call floor, first-time small-overdue grace, tier entry minima) compare like
    with like. `currency` None is the policy's own. Other currencies need `fx_to_policy`: without
    it the book cannot be tiered, and the error names both currencies."""
    if currency is None or currency == policy.currency:
        return frame
    if fx_to_policy is None:
        raise DataValidationError(
            "amounts",
            f"the book's amounts are in {currency} but the collection policy's floors are in "
            f"{policy.currency}, and no exchange rate is given",
            hint=f"Set data.history.fx_to_policy to the {currency} -> {policy.currency} rate.",
        )
    present = [c for c in columns if c in frame.columns]
    return frame.assign(**{c: frame[c].astype("float64") * fx_to_policy for c in present})


def accounts_from_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename the feature table's ``policy__`` columns to the engine's names (others pass through)."""
    # A frame may carry both a `policy__x` input and a plain `x` (the feature table has a
    # `first_time_delinquency` feature and a policy flag): the policy input wins.
    shadowed = [
        plain for pref, plain in FEATURE_TO_POLICY.items() if pref in frame and plain in frame
    ]
    return frame.drop(columns=shadowed).rename(columns=FEATURE_TO_POLICY)


# ----------------------------------------------------------------------------------------------
# Input validation
# ----------------------------------------------------------------------------------------------


def _first_bad(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def prepare_accounts(
    accounts: pd.DataFrame, policy: CollectionPolicy, source: str = "accounts"
) -> dict[str, Any]:
    """Validate the engine's inputs and return them as arrays (row = position).

    Raises DataValidationError naming the column, the first offending row position and the rule:
    compliance flags are never guessed, and days past due must be whole days.
    """
    missing = [c for c in ACCOUNT_COLUMNS if c not in accounts.columns]
    if missing:
        raise DataValidationError(
            source,
            f"missing required column(s) {missing}",
            column=missing[0],
            hint="feature-table columns map through collection_policy.engine.accounts_from_features",
        )
    used = {c.field for r in policy.rules for c in r.conditions}
    cols: dict[str, Any] = {}
    for c in ("pd", "score", *_NUMERIC_POLICY):
        s = accounts[c]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            raise DataValidationError(source, f"must be numeric (dtype {s.dtype})", column=c)
        arr = s.to_numpy(dtype=float, na_value=np.nan)
        if c in NUMERIC_INPUTS or c in used:
            bad = ~np.isfinite(arr)
            if bad.any():
                raise DataValidationError(source, "must be a finite number", c, _first_bad(bad))
        cols[c] = arr
    checks = (
        ("pd", (cols["pd"] < 0) | (cols["pd"] > 1), "must lie in [0, 1]"),
        ("days_past_due", cols["days_past_due"] < 0, "must be >= 0"),
        (
            "days_past_due",
            cols["days_past_due"] != np.floor(cols["days_past_due"]),
            "must be whole days",
        ),
        ("overdue_amount", cols["overdue_amount"] < 0, "must be >= 0"),
        ("outstanding_balance", cols["outstanding_balance"] < 0, "must be >= 0"),
    )
    for c in COUNT_INPUTS:
        if c == "days_past_due":
            continue
        checks += (
            (c, cols[c] < 0, "must be >= 0"),
            (c, cols[c] != np.floor(cols[c]), "must be a whole number"),
        )
    for c, bad, rule in checks:
        if bad.any():
            raise DataValidationError(source, rule, c, _first_bad(bad))
    for c in FLAG_INPUTS:
        s = accounts[c]
        if s.isna().any():
            raise DataValidationError(
                source, "flag is missing (never guessed)", c, _first_bad(s.isna().to_numpy())
            )
        if pd.api.types.is_bool_dtype(s):
            cols[c] = s.to_numpy(dtype=bool)
            continue
        if not pd.api.types.is_numeric_dtype(s):
            raise DataValidationError(source, f"must be boolean (dtype {s.dtype})", column=c)
        arr = s.to_numpy(dtype=float)
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            raise DataValidationError(source, "must be boolean (0/1)", c, _first_bad(bad))
        cols[c] = arr == 1
    grade = accounts["grade"]
    cols["grade"] = grade.reset_index(drop=True) if isinstance(grade, pd.Series) else grade
    cols["timezone"] = accounts["timezone"].reset_index(drop=True)
    cols["repeat_or_wilful"] = repeat_or_wilful(policy, cols)
    return cols


def repeat_or_wilful(policy: CollectionPolicy, cols: dict[str, Any]) -> np.ndarray:
    """The derived rule field: several delinquency episodes or broken promises (the policy's
    thresholds); all False for a policy without routes."""
    n = len(cols["pd"])
    if policy.routes is None:
        return np.zeros(n, dtype=bool)
    rw = policy.routes.repeat_or_wilful
    return (cols["delinquency_episodes"] >= rw.min_delinquency_episodes) | (
        cols["broken_promises"] >= rw.min_broken_promises
    )


@dataclass(frozen=True)
class _Route:
    """A handling route: its label, and its channels / offer (None: the tier's stay)."""

    name: str
    channels: tuple[str, ...] | None
    offer: str | None


def handling_routes(policy: CollectionPolicy) -> list[_Route]:
    """Every handling route in precedence order: stop-contact flags, then suspected fraud, a
    write-off recommendation and repeat-or-wilful (labels only); 'standard' is not listed."""
    out = [_Route(s.route, s.channels, s.offer) for s in policy.guardrails.stop_contact]
    r = policy.routes
    if r is not None:
        f, w = r.suspected_fraud, r.write_off_recommendation
        out += [
            _Route(f.route, f.channels, f.offer),
            _Route(w.route, w.channels, w.offer),
            _Route(r.repeat_or_wilful.route, None, None),
        ]
    return out


# ----------------------------------------------------------------------------------------------
# Time-window guardrail as pure functions
# ----------------------------------------------------------------------------------------------


def _zone(timezone: Any, policy: CollectionPolicy) -> tuple[ZoneInfo, bool]:
    z = resolve_timezone(timezone)
    if z is None:
        return ZoneInfo(policy.guardrails.contact_window.default_timezone), False
    return z, True


def may_contact_at(timezone: str, utc_datetime: datetime, policy: CollectionPolicy) -> bool:
    """Whether the debtor may be contacted at this instant: inside [start, end) local time.

    An unknown zone falls back to the policy's default zone (the same rule the engine records as
    ``unknown_timezone``). The instant must be timezone-aware: a naive one is ambiguous.
    """
    if utc_datetime.tzinfo is None or utc_datetime.utcoffset() is None:
        raise ValueError("utc_datetime must be timezone-aware (e.g. datetime.now(timezone.utc))")
    zone, _ = _zone(timezone, policy)
    local = utc_datetime.astimezone(zone).time().replace(tzinfo=None)
    w = policy.guardrails.contact_window
    return w.start <= local < w.end


def contact_allowed(
    timezones: pd.Series, utc_datetime: datetime, policy: CollectionPolicy
) -> np.ndarray:
    """Vectorised ``may_contact_at`` for many accounts at one instant (one check per zone)."""
    codes, uniques = pd.factorize(timezones, use_na_sentinel=True)
    ok = np.array([may_contact_at(z, utc_datetime, policy) for z in uniques], dtype=bool)
    na_ok = may_contact_at("", utc_datetime, policy)
    return np.where(codes < 0, na_ok, ok[np.maximum(codes, 0)])


# ----------------------------------------------------------------------------------------------
# The engine
# ----------------------------------------------------------------------------------------------


def _channel_mask(names: tuple[str, ...] | None) -> int:
    m = 0
    for n in names or ():
        m |= 1 << CHANNEL_INDEX[n]
    return m


def _kind_mask(pred: Any) -> int:
    return _channel_mask(tuple(n for n, c in CHANNELS.items() if pred(c)))


def _ev_envelope(
    slopes: np.ndarray, costs: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints and tiers of the best line x*slope - cost over x >= 0 among allowed tiers.

    tier(x) = tiers[#(breaks < x)]: ties go to the gentler tier, and the tier can only rise with x
    (slopes rise with tier), so the choice is monotone in PD by construction, not by float luck.
    """
    idx = np.flatnonzero(ok)
    cur = idx[np.argmin(costs[idx])]  # best at x = 0; argmin returns the gentlest on ties
    breaks: list[float] = []
    tiers = [int(cur)]
    x0 = 0.0
    while True:
        cand = idx[slopes[idx] > slopes[cur]]
        if cand.size == 0:
            break
        cross = (costs[cand] - costs[cur]) / (slopes[cand] - slopes[cur])
        cross = np.maximum(cross, x0)
        best = cross.min()
        # among tiers crossing first, the steepest wins for every larger x
        nxt = cand[cross == best][np.argmax(slopes[cand[cross == best]])]
        breaks.append(float(best))
        tiers.append(int(nxt))
        cur, x0 = nxt, best
    return np.asarray(breaks), np.asarray(tiers)


def assign_tiers(
    accounts: pd.DataFrame,
    policy: CollectionPolicy,
    mode: str,
    source: str = "accounts",
    ev_rates: EVRates | None = None,
) -> pd.DataFrame:
    """One tier per account, with channels, caps, offer, deciding rule and guardrails applied.

    ``accounts`` needs the columns of ``ACCOUNT_COLUMNS``. Returns a frame on the same index with
    ``OUTPUT_COLUMNS``: ``tier`` is the final tier of ``mode``; ``rule_tier`` (rules mode, after
    guardrails) and ``ev_tier`` (expected-value mode) are both always present for side-by-side
    reports; channels and guardrails are ``;``-separated names (empty string: none).
    ``ev_rates`` (learned from an outcome history, `collection_policy.ev_rates`) replaces the
    policy's hand-set cure rates for past-due accounts in the expected-value step.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    cols = prepare_accounts(accounts, policy, source)
    decided, proposed = _entry_rules(policy, cols, source)
    limits = _guardrail_limits(policy, cols, proposed)
    rule_final = _rules_mode_tier(limits.allowed, proposed)
    ev = _expected_value_tiers(policy, cols, limits.allowed, ev_rates)
    chosen, wanted = (rule_final, proposed) if mode == "rules" else (ev.final, ev.unconstrained)
    gmask = _tier_guardrails(policy, cols, limits, wanted)
    zones = _Zones.of(cols["timezone"], policy.guardrails.contact_window.default_timezone)
    contact = _channels_and_offers(policy, cols, limits, zones, decided, proposed, chosen, gmask)
    routes = handling_routes(policy)
    return pd.DataFrame(
        {
            "tier": chosen.astype(np.int8),
            "tier_name": _cat(chosen, [t.label for t in policy.tiers]),
            "handling": _cat(
                np.where(limits.routed, limits.route, len(routes)),
                [r.name for r in routes] + ["standard"],
            ),
            "channels": _names_from_masks(contact.channels, list(CHANNELS)),
            "caps": _caps_column(policy, chosen, contact.channels, zones),
            "offer": _cat(contact.offer, contact.offers),
            "rule": _cat(decided, [r.name for r in policy.rules]),
            "guardrails": _names_from_masks(contact.guardrails, list(GUARDRAILS)),
            "rule_tier": rule_final.astype(np.int8),
            "ev_tier": ev.final.astype(np.int8),
            "ev_value": ev.value,
            "mode": _cat(np.zeros(len(accounts), dtype=np.int64), [mode]),
        },
        index=accounts.index,
    )


def _entry_rules(
    policy: CollectionPolicy, cols: dict[str, Any], source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Step 1: the deciding rule per row (index into policy.rules) and the tier it proposes."""
    n = len(cols["pd"])
    decided = first_match(policy, cols) if n else np.zeros(0, dtype=np.int32)
    if (decided < 0).any():  # impossible for a validated policy; never assign silently
        raise DataValidationError(
            source, "no entry rule matches this account (policy gap)", row=_first_bad(decided < 0)
        )
    rule_tier = np.array([r.tier for r in policy.rules], dtype=np.int64)
    return decided, rule_tier[decided]


@dataclass(frozen=True)
class _Limits:
    """Step 2's per-row limits: each guardrail's tier cap and the tiers left allowed."""

    caps: dict[str, np.ndarray]  # guardrail name -> highest tier it allows
    route: np.ndarray  # index into handling_routes(policy) by precedence (-1: standard)
    entry_ok: np.ndarray  # (rows, tiers): the tier's entry minima are met
    allowed: np.ndarray  # (rows, tiers): tiers the guardrails allow
    balance: np.ndarray  # max(outstanding_balance, overdue_amount)

    @property
    def routed(self) -> np.ndarray:
        return self.route >= 0


def _guardrail_limits(
    policy: CollectionPolicy, cols: dict[str, Any], proposed: np.ndarray
) -> _Limits:
    """Step 2: stop-contact flags, the suspected-fraud and write-off routes, first-time small
    overdue, small balance, the call floor and entry minima; the handling route per row."""
    n_tiers = policy.n_tiers
    g = policy.guardrails
    n = len(cols["pd"])
    dpd = cols["days_past_due"]
    overdue = cols["overdue_amount"]
    balance = np.maximum(cols["outstanding_balance"], overdue)
    caps: dict[str, np.ndarray] = {}
    route = np.full(n, -1, dtype=np.int64)
    for i, stop in enumerate(g.stop_contact):
        flag = cols[stop.flag]
        caps[f"stop_contact_{stop.flag}"] = np.where(flag, stop.max_tier, n_tiers - 1)
        route = np.where((route < 0) & flag, i, route)
    k = len(g.stop_contact)
    for j, (name, hit, max_tier) in enumerate(_condition_routes(policy, cols, proposed)):
        caps[name] = np.where(hit, max_tier, n_tiers - 1)
        route = np.where((route < 0) & hit, k + j, route)
    first_time = g.first_time_small_overdue
    caps["first_time_small_overdue"] = np.where(
        cols["first_time_delinquency"] & (overdue < first_time.threshold),
        first_time.max_tier,
        n_tiers - 1,
    )
    small = g.small_balance
    caps["small_balance"] = np.where(balance < small.threshold, small.max_tier, n_tiers - 1)
    if g.call_floor is not None:
        caps["call_floor"] = np.where(
            overdue < g.call_floor.threshold, g.call_floor.max_tier, n_tiers - 1
        )
    cap = np.minimum.reduce(list(caps.values())) if caps else np.full(n, n_tiers - 1)
    min_dpd = np.array([t.min_days_past_due for t in policy.tiers])
    min_amt = np.array([t.min_overdue_amount for t in policy.tiers])
    entry_ok = (dpd[:, None] >= min_dpd[None, :]) & (overdue[:, None] >= min_amt[None, :])
    allowed = entry_ok & (np.arange(n_tiers)[None, :] <= cap[:, None])
    allowed[:, 0] = True
    return _Limits(caps, route, entry_ok, allowed, balance)


def _condition_routes(
    policy: CollectionPolicy, cols: dict[str, Any], proposed: np.ndarray
) -> list[tuple[str, np.ndarray, int]]:
    """(guardrail name, rows it applies to, tier cap) of the condition routes, in precedence
    order after the stop-contact flags; repeat_or_wilful caps nothing (tier cap = top tier) and
    labels only accounts past due now."""
    r = policy.routes
    if r is None:
        return []
    top = policy.n_tiers - 1
    f, w = r.suspected_fraud, r.write_off_recommendation
    floor_tier = policy.tier(w.below_floor_of_tier)
    fraud = cols["never_paid"] & (cols["days_past_due"] >= f.min_days_past_due)
    write_off = (proposed >= w.below_floor_of_tier) & (
        cols["overdue_amount"] < floor_tier.min_overdue_amount
    )
    return [
        ("suspected_fraud", fraud, f.max_tier),
        ("write_off_recommendation", write_off, w.max_tier),
        ("repeat_or_wilful", cols["repeat_or_wilful"] & (cols["days_past_due"] >= 1), top),
    ]


def _rules_mode_tier(allowed: np.ndarray, proposed: np.ndarray) -> np.ndarray:
    """Rules mode: the highest allowed tier at or below the rule's proposal."""
    n_tiers = allowed.shape[1]
    below = allowed & (np.arange(n_tiers)[None, :] <= proposed[:, None])
    return (n_tiers - 1 - np.argmax(below[:, ::-1], axis=1)).astype(np.int64)


@dataclass(frozen=True)
class _ExpectedValue:
    final: np.ndarray  # best allowed eligible tier
    unconstrained: np.ndarray  # best eligible tier before guardrails (what the mode wanted)
    value: np.ndarray  # expected recovery minus contact cost of `final`


def _envelope_tiers(
    slopes: np.ndarray, costs: np.ndarray, ok: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """Best tier per row on the upper envelope of x*slope - cost over the row's `ok` tiers; rows
    with the same set share one envelope."""
    out = np.zeros(len(x), dtype=np.int64)
    key = (ok * (1 << np.arange(ok.shape[1]))[None, :]).sum(axis=1)
    for k in np.unique(key):
        rows = key == k
        breaks, labels = _ev_envelope(slopes, costs, ok[np.argmax(rows)])
        out[rows] = labels[np.searchsorted(breaks, x[rows], side="left")]
    return out


def _rising_lines(slopes: np.ndarray) -> np.ndarray:
    """Per row of (lines x tiers) slopes (NaN: not offered), the tiers kept so that slopes rise
    with the tier: one whose slope falls below a gentler kept tier's is dropped. Learned uplifts
    rise with the tier, but a commission (agency referral) can lower a tier's value per unit
    below a gentler one's; offering it would let the best tier fall as the stakes rise."""
    keep = np.isfinite(slopes)
    for row in range(slopes.shape[0]):
        top = -np.inf
        for t in np.flatnonzero(keep[row]):
            if slopes[row, t] < top:
                keep[row, t] = False
            else:
                top = slopes[row, t]
    return keep


def _expected_value_tiers(
    policy: CollectionPolicy,
    cols: dict[str, Any],
    allowed: np.ndarray,
    rates: EVRates | None = None,
) -> _ExpectedValue:
    """Expected-value mode: the best allowed eligible tier on the upper envelope of value lines.

    Without `rates`: x = exposure x PD and the policy's hand-set net cure rates as slopes. With
    learned `rates` (`collection_policy.ev_rates`), a past-due account's x is exposure x its
    state probability (no cure under the minimum treatment) and the slopes are the learned
    uplifts x (1 - commission), over the tiers from the minimum treatment up that the history
    saw; an account whose guardrails leave none of those gets the gentlest allowed tier. Current
    accounts, and past-due ones in a DPD bucket the history does not cover, keep the policy's lines
    (no arrears, or nothing measured to learn from).
    """
    n = len(cols["pd"])
    hand = np.array([t.ev.net_cure for t in policy.tiers])
    costs = np.array([t.ev.cost for t in policy.tiers])
    eligible = np.array([t.ev.eligible for t in policy.tiers])
    exposure = cols.get(policy.ev_exposure, cols["overdue_amount"])
    slopes = np.broadcast_to(hand, (n, policy.n_tiers)).copy()
    x = exposure * cols["pd"]
    candidates = np.broadcast_to(eligible, (n, policy.n_tiers)).copy()
    kind = np.zeros(n, dtype=np.int64)  # 0: the policy's lines; 1 + b: learned, DPD bucket b
    lines = {0: hand}
    if rates is not None:
        if rates.uplift.shape[1] != policy.n_tiers:
            raise ValueError(
                f"learned rates cover {rates.uplift.shape[1]} tiers, the policy has "
                f"{policy.n_tiers}"
            )
        learned_rows = rates.covers(cols["days_past_due"], cols["pd"])  # else: policy lines
        bucket = rates.bucket_index(cols["days_past_due"])
        learned = rates.slopes([t.ev.commission for t in policy.tiers])
        known = _rising_lines(np.where(eligible[None, :], learned, np.nan))
        for b in np.unique(bucket[learned_rows]):
            rows = learned_rows & (bucket == b)
            kind[rows] = 1 + b
            lines[1 + b] = np.where(known[b], learned[b], 0.0)
            slopes[rows] = lines[1 + b]
            candidates[rows] = known[b]
        state = rates.state_probability(cols["days_past_due"], cols["pd"])
        x = np.where(learned_rows, exposure * np.nan_to_num(state), x)
    ok = allowed & candidates
    stuck = ~ok.any(axis=1)  # guardrails left no learned candidate: the gentlest allowed tier
    ok[stuck] = allowed[stuck] & eligible[None, :]
    free = candidates.copy()
    free[~free.any(axis=1)] = eligible
    final = np.zeros(n, dtype=np.int64)
    unconstrained = np.zeros(n, dtype=np.int64)
    for k, line in lines.items():
        rows = kind == k
        for flat in (False, True):
            sub = rows & (stuck == flat)
            if sub.any():
                use = np.zeros_like(line) if flat else line
                final[sub] = _envelope_tiers(use, costs, ok[sub], x[sub])
        if rows.any():
            unconstrained[rows] = _envelope_tiers(line, costs, free[rows], x[rows])
    chosen = np.where(stuck, 0.0, slopes[np.arange(n), final])
    return _ExpectedValue(final, unconstrained, x * chosen - costs[final])


def _tier_guardrails(
    policy: CollectionPolicy, cols: dict[str, Any], limits: _Limits, wanted: np.ndarray
) -> np.ndarray:
    """Guardrail bits of the tier step: every cap that lowered the wanted tier, entry minima,
    and every stop-contact flag set (recorded even if the tier was already low enough)."""
    n = len(wanted)
    gmask = np.zeros(n, dtype=np.int64)
    for name, cap in limits.caps.items():
        if name in _G:  # repeat_or_wilful is a label, not a guardrail
            gmask |= np.where(wanted > cap, 1 << _G[name], 0)
    gmask |= np.where(~limits.entry_ok[np.arange(n), wanted], 1 << _G["tier_entry_minimum"], 0)
    for stop in policy.guardrails.stop_contact:
        gmask |= np.where(cols[stop.flag], 1 << _G[f"stop_contact_{stop.flag}"], 0)
    for name in ("suspected_fraud", "write_off_recommendation"):  # recorded like a flag
        if name in limits.caps:
            gmask |= np.where(limits.caps[name] < policy.n_tiers - 1, 1 << _G[name], 0)
    return gmask


@dataclass(frozen=True)
class _Contact:
    channels: np.ndarray  # channel bit mask per row
    offer: np.ndarray  # index into `offers` per row
    offers: list[str]
    guardrails: np.ndarray  # guardrail bit mask per row (all steps)


def _channels_and_offers(
    policy: CollectionPolicy,
    cols: dict[str, Any],
    limits: _Limits,
    zones: _Zones,
    decided: np.ndarray,
    proposed: np.ndarray,
    chosen: np.ndarray,
    gmask: np.ndarray,
) -> _Contact:
    """Step 3: the tier's channels and offer (the rule's overrides when its tier stands), the
    stop-contact route, then channels the guardrails strip; plus the contact-time guardrails."""
    g = policy.guardrails
    n = len(chosen)
    tier_masks = np.array([_channel_mask(t.channels) for t in policy.tiers], dtype=np.int64)
    chan = tier_masks[chosen]
    offers: list[str] = [""]
    offer_index: dict[str, int] = {"": 0}

    def offer_id(text: str | None) -> int:
        key = text or ""
        if key not in offer_index:
            offer_index[key] = len(offers)
            offers.append(key)
        return offer_index[key]

    tier_offer = np.array([offer_id(t.offer) for t in policy.tiers])
    offer = tier_offer[chosen]
    stands = chosen == proposed  # the deciding rule's own tier: its overrides apply
    rule_chan = np.array(
        [_channel_mask(r.channels) if r.channels is not None else -1 for r in policy.rules],
        dtype=np.int64,
    )
    rule_offer = np.array([offer_id(r.offer) if r.offer else -1 for r in policy.rules])
    decided_chan, decided_offer = rule_chan[decided], rule_offer[decided]
    chan = np.where(stands & (decided_chan >= 0), decided_chan, chan)
    offer = np.where(stands & (decided_offer >= 0), decided_offer, offer)
    routes = handling_routes(policy)
    route_chan = np.array(
        [_channel_mask(r.channels) if r.channels is not None else -1 for r in routes] or [-1],
        dtype=np.int64,
    )
    route_offer = np.array([offer_id(r.offer) if r.offer else -1 for r in routes] or [-1])
    route = np.maximum(limits.route, 0)
    rerouted = limits.routed & (route_chan[route] >= 0)
    chan = np.where(rerouted, route_chan[route], chan)
    offer = np.where(rerouted & (route_offer[route] >= 0), route_offer[route], offer)

    dpd = cols["days_past_due"]
    visits = g.field_visits
    visit_ok = (
        visits.enabled & (dpd >= visits.min_days_past_due) & (limits.balance >= visits.min_balance)
    )
    soft_tier = chosen <= policy.soft_max_tier
    strips = (  # in this order: each sees the channels the previous one left
        (_kind_mask(lambda c: c.is_call_or_beyond), soft_tier, "soft_tier_no_calls"),
        (1 << CHANNEL_INDEX["field_visit"], ~visit_ok, "no_field_visit"),
        (_kind_mask(lambda c: c.kind == "third_party"), np.ones(n, bool), "no_third_party_contact"),
    )
    if g.call_floor is not None:  # never reached past the cap (soft tiers), kept as a backstop
        below = cols["overdue_amount"] < g.call_floor.threshold
        strips += ((_kind_mask(lambda c: c.is_call_or_beyond), below, "call_floor"),)
    for bits, where, name in strips:
        hit = where & ((chan & bits) != 0)
        gmask = gmask | np.where(hit, 1 << _G[name], 0)
        chan = np.where(hit, chan & ~bits, chan)

    notice = g.credit_bureau_notice
    if notice is not None:
        # the notice goes out in its own window, before the first negative report may be made
        due = dpd >= notice.notice_from_days_past_due
        window = due & (dpd < notice.report_from_days_past_due)
        held_ids = [i for i, r in enumerate(routes) if r.name in notice.hold_routes]
        held = limits.routed & np.isin(limits.route, held_ids)
        send = window & ~held
        chan = np.where(send, chan | _channel_mask(notice.channels), chan)
        gmask = gmask | np.where(send, 1 << _G["credit_bureau_notice"], 0)
        gmask = gmask | np.where(due & held, 1 << _G["credit_report_hold"], 0)

    realtime = (chan & _kind_mask(lambda c: c.is_realtime)) != 0
    calls = (chan & _kind_mask(lambda c: c.kind in ("voice", "referral"))) != 0
    gmask = gmask | np.where(realtime, 1 << _G["contact_window"], 0)
    gmask = gmask | np.where(realtime & zones.unknown, 1 << _G["unknown_timezone"], 0)
    gmask = gmask | np.where(calls, 1 << _G["call_caps"], 0)
    return _Contact(chan, offer, offers, gmask)


@dataclass(frozen=True)
class _Zones:
    """Each row's contact zone: labels (unknown or missing -> the policy default; the last label
    is for missing), the label code per row, and whether the default replaced an unknown zone."""

    labels: list[str]
    code: np.ndarray
    unknown: np.ndarray

    @classmethod
    def of(cls, timezones: Any, default_tz: str) -> _Zones:
        tz_codes, tz_uniques = pd.factorize(timezones, use_na_sentinel=True)
        tz_known = [resolve_timezone(z) is not None for z in tz_uniques]
        labels = [str(z) if ok else default_tz for z, ok in zip(tz_uniques, tz_known, strict=True)]
        labels.append(default_tz)
        code = np.where(tz_codes < 0, len(labels) - 1, tz_codes)
        unknown = ~np.array([*tz_known, False], dtype=bool)[code]
        return cls(labels, code, unknown)


def _caps_column(
    policy: CollectionPolicy, chosen: np.ndarray, chan: np.ndarray, zones: _Zones
) -> pd.Categorical:
    """Step 4: the caps text, built once per distinct (tier, channels, zone) combination."""
    n_ch = 1 << len(CHANNELS)
    n_tz = len(zones.labels)
    caps_key = (chosen * n_ch + chan) * n_tz + zones.code
    caps_codes, caps_uni = pd.factorize(caps_key)
    caps_text = [
        _caps_text(
            policy, int(k // n_tz // n_ch), int(k // n_tz % n_ch), zones.labels[int(k % n_tz)]
        )
        for k in caps_uni
    ]
    return _cat(caps_codes, caps_text)


def _cat(codes: np.ndarray, labels: list[str]) -> pd.Categorical:
    """labels[codes] as a categorical with sorted unique categories: cheap, row-order free."""
    cats, inv = np.unique(np.array([*labels, ""], dtype=object), return_inverse=True)
    return pd.Categorical.from_codes(
        inv.ravel()[np.asarray(codes, dtype=np.int64)], categories=cats
    )


def _names_from_masks(masks: np.ndarray, names: list[str]) -> pd.Categorical:
    codes, uni = pd.factorize(masks)
    labels = [";".join(nm for i, nm in enumerate(names) if int(m) >> i & 1) for m in uni]
    return _cat(codes, labels)


def _caps_text(policy: CollectionPolicy, tier_id: int, chan: int, tz: str) -> str:
    t = policy.tier(tier_id)
    cc = policy.guardrails.call_caps
    kinds = {c.kind for i, c in enumerate(CHANNELS.values()) if chan >> i & 1}
    parts: list[str] = []
    if "digital" in kinds:
        parts.append(f"max {t.messages_per_day} msg/day")
    if kinds & {"voice", "referral"}:
        calls = min(
            t.connected_calls_per_day or cc.connected_calls_per_day, cc.connected_calls_per_day
        )
        att = min(
            t.call_attempts_per_7_days or cc.call_attempts_per_7_days, cc.call_attempts_per_7_days
        )
        who = "agency " if "referral" in kinds and "voice" not in kinds else ""
        parts.append(f"{who}max {calls} connected calls/day, {att} call attempts/7 days")
    if "field" in kinds:
        parts.append("home visit: two collectors, prior written notice")
    notice = policy.guardrails.credit_bureau_notice
    notice_bits = _channel_mask(notice.channels) if notice is not None else 0
    written_other = any(
        c.kind == "written" and not (notice_bits >> i & 1)
        for i, c in enumerate(CHANNELS.values())
        if chan >> i & 1
    )
    if written_other and not kinds & {"digital", "voice", "referral", "field"}:
        parts.append("written notice only")
    if notice is not None and chan & notice_bits:
        parts.append(
            "credit-bureau notice sent; no negative report before "
            f"{notice.report_from_days_past_due} DPD"
        )
    if kinds & {"digital", "voice", "referral", "field"}:
        parts.append(f"contact {policy.guardrails.contact_window.describe()} {tz}")
    if not parts:
        return "no contact"
    return "; ".join(parts)


def split_names(text: str) -> list[str]:
    """Inverse of the ``channels`` / ``guardrails`` encoding."""
    return [s for s in str(text).split(";") if s]


__all__ = [
    "ACCOUNT_COLUMNS",
    "COUNT_INPUTS",
    "FLAG_INPUTS",
    "GUARDRAILS",
    "MODES",
    "NUMERIC_INPUTS",
    "OUTPUT_COLUMNS",
    "accounts_from_features",
    "assign_tiers",
    "contact_allowed",
    "handling_routes",
    "may_contact_at",
    "prepare_accounts",
    "repeat_or_wilful",
    "split_names",
]
