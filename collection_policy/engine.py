"""The collection-tier engine: entry rules, hard guardrails and expected-value mode, vectorised.

``assign_tiers(accounts, policy, mode)`` is pure and works on a whole DataFrame at once; the DVC
stage and the served model call exactly it. The order of operations is fixed:

1. the first matching entry rule (by priority) proposes a tier (``rule_tier`` before guardrails);
2. guardrails compute, per account, the set of tiers it may be in (stop-contact flags, first-time
   small overdue, small balance, tier entry minima). Rules mode takes the highest allowed tier at or
   below the proposal; expected-value mode takes the allowed tier with the largest expected
   recovery minus contact cost;
3. channels come from the chosen tier (or the deciding rule's override when the rule's tier stands),
   are replaced by the stop-contact route when a flag is set, and are then stripped of home visits
   the field-visit guardrail does not permit and of any third-party channel;
4. caps spell out message and call limits and the contact window in the account's own time zone.

Every row records the deciding rule and the name of every guardrail that capped or changed it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from collection_policy.rulespace import first_match
from collection_policy.schema import CollectionPolicy
from collection_policy.vocabulary import (
    CHANNEL_INDEX,
    CHANNELS,
    FIELDS,
    STOP_FLAGS,
    resolve_timezone,
)
from features.catalogue import POLICY_INPUT_NAMES, POLICY_PREFIX
from features.errors import DataValidationError

log = logging.getLogger(__name__)

MODES = ("rules", "expected_value")

#: Input columns of ``assign_tiers`` (engine names) and what they mean.
ACCOUNT_COLUMNS: dict[str, str] = {
    "pd": "calibrated PD in [0, 1]",
    "score": "scorecard points",
    "grade": "master-scale grade (str)",
    "days_past_due": "days past due, integer >= 0",
    "overdue_amount": "unpaid minimum dues, >= 0",
    "first_time_delinquency": "bool: first delinquency episode",
    "dispute": "bool: debt disputed",
    "hardship": "bool: declared hardship",
    "opt_out": "bool: asked to stop non-written contact",
    "deceased": "bool: debtor deceased",
    "timezone": "IANA time zone of the debtor (str); missing -> policy default, recorded",
    "outstanding_balance": "balance owed, >= 0",
}

#: Feature-table column (docs/data_contracts.md) -> engine column.
FEATURE_COLUMN_MAP: dict[str, str] = {POLICY_PREFIX + c: c for c in POLICY_INPUT_NAMES}

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
)
_G = {name: i for i, name in enumerate(GUARDRAILS)}

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

NUMERIC_INPUTS = ("pd", "days_past_due", "overdue_amount", "outstanding_balance")
FLAG_INPUTS = ("first_time_delinquency", "dispute", "hardship", "opt_out", "deceased")


def accounts_from_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename the feature table's ``policy__`` columns to the engine's names (others pass through)."""
    # A frame may carry both a `policy__x` input and a plain `x` (the feature table has a
    # `first_time_delinquency` feature and a policy flag): the policy input wins.
    shadowed = [
        plain for pref, plain in FEATURE_COLUMN_MAP.items() if pref in frame and plain in frame
    ]
    return frame.drop(columns=shadowed).rename(columns=FEATURE_COLUMN_MAP)


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
    for c in ("pd", "score", "days_past_due", "overdue_amount", "outstanding_balance"):
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
    return cols


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
    mode: str = "rules",
    source: str = "accounts",
) -> pd.DataFrame:
    """One tier per account, with channels, caps, offer, deciding rule and guardrails applied.

    ``accounts`` needs the columns of ``ACCOUNT_COLUMNS``. Returns a frame on the same index with
    ``OUTPUT_COLUMNS``: ``tier`` is the final tier of ``mode``; ``rule_tier`` (rules mode, after
    guardrails) and ``ev_tier`` (expected-value mode) are both always present for side-by-side
    reports; channels and guardrails are ``;``-separated names (empty string: none).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    cols = prepare_accounts(accounts, policy, source)
    n = len(accounts)
    T = policy.n_tiers
    g = policy.guardrails
    tier_ids = np.arange(T)

    # 1. entry rules
    decided = first_match(policy, cols) if n else np.zeros(0, dtype=np.int32)
    if (decided < 0).any():  # impossible for a validated policy; never assign silently
        raise DataValidationError(
            source, "no entry rule matches this account (policy gap)", row=_first_bad(decided < 0)
        )
    rule_tier_arr = np.array([r.tier for r in policy.rules], dtype=np.int64)
    proposed = rule_tier_arr[decided]

    # 2. guardrail tier caps -> allowed tiers
    dpd = cols["days_past_due"]
    overdue = cols["overdue_amount"]
    balance = np.maximum(cols["outstanding_balance"], overdue)
    caps: dict[str, np.ndarray] = {}
    route = np.full(n, -1, dtype=np.int64)  # stop-contact route index by precedence
    for i, s in enumerate(g.stop_contact):
        flag = cols[s.flag]
        caps[f"stop_contact_{s.flag}"] = np.where(flag, s.max_tier, T - 1)
        route = np.where((route < 0) & flag, i, route)
    ft = g.first_time_small_overdue
    caps["first_time_small_overdue"] = np.where(
        cols["first_time_delinquency"] & (overdue < ft.threshold), ft.max_tier, T - 1
    )
    sb = g.small_balance
    caps["small_balance"] = np.where(balance < sb.threshold, sb.max_tier, T - 1)
    cap = np.minimum.reduce(list(caps.values())) if caps else np.full(n, T - 1)
    min_dpd = np.array([t.min_days_past_due for t in policy.tiers])
    min_amt = np.array([t.min_overdue_amount for t in policy.tiers])
    entry_ok = (dpd[:, None] >= min_dpd[None, :]) & (overdue[:, None] >= min_amt[None, :])
    allowed = entry_ok & (tier_ids[None, :] <= cap[:, None])
    allowed[:, 0] = True

    # rules mode: the highest allowed tier at or below the proposal
    below = allowed & (tier_ids[None, :] <= proposed[:, None])
    rule_final = (T - 1 - np.argmax(below[:, ::-1], axis=1)).astype(np.int64)

    # expected-value mode: best allowed eligible tier on the upper envelope of value lines
    slopes = np.array([t.ev.net_cure for t in policy.tiers])
    costs = np.array([t.ev.cost for t in policy.tiers])
    eligible = np.array([t.ev.eligible for t in policy.tiers])
    exposure = cols.get(policy.ev_exposure, overdue)
    x = exposure * cols["pd"]
    ev_ok = allowed & eligible[None, :]
    ev_final = np.zeros(n, dtype=np.int64)
    set_key = (ev_ok * (1 << tier_ids)[None, :]).sum(axis=1)
    for key in np.unique(set_key):
        rows = set_key == key
        breaks, labels = _ev_envelope(slopes, costs, ev_ok[np.argmax(rows)])
        ev_final[rows] = labels[np.searchsorted(breaks, x[rows], side="left")]
    b_free, l_free = _ev_envelope(slopes, costs, eligible)
    ev_free = l_free[np.searchsorted(b_free, x, side="left")]
    ev_value = x * slopes[ev_final] - costs[ev_final]

    chosen, wanted = (rule_final, proposed) if mode == "rules" else (ev_final, ev_free)
    rows_all = np.arange(n)
    gmask = np.zeros(n, dtype=np.int64)
    for name, c in caps.items():
        gmask |= np.where(wanted > c, 1 << _G[name], 0)
    gmask |= np.where(~entry_ok[rows_all, wanted], 1 << _G["tier_entry_minimum"], 0)
    # stop-contact flags are recorded whenever set, even if the tier was already low enough
    for s in g.stop_contact:
        gmask |= np.where(cols[s.flag], 1 << _G[f"stop_contact_{s.flag}"], 0)

    # 3. channels and offers
    tier_masks = np.array([_channel_mask(t.channels) for t in policy.tiers], dtype=np.int64)
    chan = tier_masks[chosen]
    offers: list[str] = [""]
    offer_index: dict[str, int] = {"": 0}

    def _offer_id(text: str | None) -> int:
        key = text or ""
        if key not in offer_index:
            offer_index[key] = len(offers)
            offers.append(key)
        return offer_index[key]

    tier_offer = np.array([_offer_id(t.offer) for t in policy.tiers])
    offer = tier_offer[chosen]
    stands = chosen == proposed  # the deciding rule's own tier: its overrides apply
    rule_chan = np.array(
        [_channel_mask(r.channels) if r.channels is not None else -1 for r in policy.rules],
        dtype=np.int64,
    )
    rule_offer = np.array([_offer_id(r.offer) if r.offer else -1 for r in policy.rules])
    rc, ro = rule_chan[decided], rule_offer[decided]
    chan = np.where(stands & (rc >= 0), rc, chan)
    offer = np.where(stands & (ro >= 0), ro, offer)
    route_chan = np.array([_channel_mask(s.channels) for s in g.stop_contact], dtype=np.int64)
    route_offer = np.array([_offer_id(s.offer) if s.offer else -1 for s in g.stop_contact])
    routed = route >= 0
    rsafe = np.maximum(route, 0)
    chan = np.where(routed, route_chan[rsafe], chan)
    offer = np.where(routed & (route_offer[rsafe] >= 0), route_offer[rsafe], offer)

    def _strip(bits: int, where: np.ndarray, name: str) -> None:
        nonlocal chan, gmask
        hit = where & ((chan & bits) != 0)
        gmask |= np.where(hit, 1 << _G[name], 0)
        chan = np.where(hit, chan & ~bits, chan)

    call_or_beyond = _kind_mask(lambda c: c.is_call_or_beyond)
    _strip(call_or_beyond, chosen <= policy.soft_max_tier, "soft_tier_no_calls")
    fv = g.field_visits
    visit_ok = fv.enabled & (dpd >= fv.min_days_past_due) & (balance >= fv.min_balance)
    _strip(1 << CHANNEL_INDEX["field_visit"], ~visit_ok, "no_field_visit")
    _strip(
        _kind_mask(lambda c: c.kind == "third_party"), np.ones(n, bool), "no_third_party_contact"
    )

    realtime = (chan & _kind_mask(lambda c: c.is_realtime)) != 0
    calls = (chan & _kind_mask(lambda c: c.kind in ("voice", "referral"))) != 0
    tz_codes, tz_uniques = pd.factorize(cols["timezone"], use_na_sentinel=True)
    default_tz = g.contact_window.default_timezone
    tz_known = [resolve_timezone(z) is not None for z in tz_uniques]
    # one label per code, plus a last one for missing zones (code -1)
    tz_labels = [str(z) if ok else default_tz for z, ok in zip(tz_uniques, tz_known, strict=True)]
    tz_labels.append(default_tz)
    tz_code_all = np.where(tz_codes < 0, len(tz_labels) - 1, tz_codes)
    unknown_tz = ~np.array([*tz_known, False], dtype=bool)[tz_code_all]
    gmask |= np.where(realtime, 1 << _G["contact_window"], 0)
    gmask |= np.where(realtime & unknown_tz, 1 << _G["unknown_timezone"], 0)
    gmask |= np.where(calls, 1 << _G["call_caps"], 0)

    # 4. strings, built once per distinct combination, returned as categoricals
    n_ch = 1 << len(CHANNELS)
    caps_key = (chosen * n_ch + chan) * len(tz_labels) + tz_code_all
    caps_codes, caps_uni = pd.factorize(caps_key)
    caps_text = [
        _caps_text(
            policy,
            int(k // len(tz_labels) // n_ch),
            int(k // len(tz_labels) % n_ch),
            tz_labels[int(k % len(tz_labels))],
        )
        for k in caps_uni
    ]
    route_names = [s.route for s in g.stop_contact] + ["standard"]
    out = pd.DataFrame(
        {
            "tier": chosen.astype(np.int8),
            "tier_name": _cat(chosen, [t.label for t in policy.tiers]),
            "handling": _cat(np.where(routed, route, len(g.stop_contact)), route_names),
            "channels": _names_from_masks(chan, list(CHANNELS)),
            "caps": _cat(caps_codes, caps_text),
            "offer": _cat(offer, offers),
            "rule": _cat(decided, [r.name for r in policy.rules]),
            "guardrails": _names_from_masks(gmask, list(GUARDRAILS)),
            "rule_tier": rule_final.astype(np.int8),
            "ev_tier": ev_final.astype(np.int8),
            "ev_value": ev_value,
            "mode": _cat(np.zeros(n, dtype=np.int64), [mode]),
        },
        index=accounts.index,
    )
    return out


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
    if "written" in kinds and not kinds & {"digital", "voice", "referral", "field"}:
        parts.append("written notice only")
    if kinds & {"digital", "voice", "referral", "field"}:
        parts.append(f"contact {policy.guardrails.contact_window.describe()} {tz}")
    if not parts:
        return "no contact"
    return "; ".join(parts)


def split_names(text: str) -> list[str]:
    """Inverse of the ``channels`` / ``guardrails`` encoding."""
    return [s for s in str(text).split(";") if s]


# ----------------------------------------------------------------------------------------------
# Summaries
# ----------------------------------------------------------------------------------------------


def _per_tier(
    tiers: np.ndarray,
    pd_: np.ndarray,
    exposure: np.ndarray,
    cost: np.ndarray,
    labels: np.ndarray | None,
    policy: CollectionPolicy,
) -> dict[str, dict[str, Any]]:
    n = max(len(tiers), 1)
    out: dict[str, dict[str, Any]] = {}
    for t in policy.tiers:
        m = tiers == t.id
        k = int(m.sum())
        row: dict[str, Any] = {
            "name": t.name,
            "accounts": k,
            "share": k / n,
            "exposure": float(exposure[m].sum()),
            "expected_loss": float((pd_[m] * exposure[m]).sum()),
            "mean_pd": float(pd_[m].mean()) if k else None,
            "contact_cost": float(cost[m].sum()),
        }
        if labels is not None:
            lab = labels[m]
            lab = lab[~np.isnan(lab)]
            row["labelled"] = int(lab.size)
            row["bad_rate"] = float(lab.mean()) if lab.size else None
        out[f"T{t.id}"] = row
    return out


def bad_rate_rises(
    per_tier: Mapping[str, Mapping[str, Any]], min_labelled: int = 30
) -> bool | None:
    """Whether the observed bad rate is non-decreasing over tiers holding enough labelled accounts."""
    rates = [
        r["bad_rate"]
        for r in per_tier.values()
        if r.get("bad_rate") is not None and r.get("labelled", 0) >= min_labelled
    ]
    if len(rates) < 2:
        return None
    return bool(all(b >= a for a, b in zip(rates, rates[1:], strict=False)))


def summarise_tiers(
    accounts: pd.DataFrame,
    result: pd.DataFrame,
    policy: CollectionPolicy,
    labels: pd.Series | None = None,
) -> dict[str, Any]:
    """Tier metrics for DVC: accounts, exposure, expected loss (PD x balance), contact cost and,
    with labels, observed bad rate per tier, for the chosen mode and both assignments side by side.

    Exposure is max(outstanding_balance, overdue_amount) with LGD 1 (a conservative ceiling);
    contact cost is the tier's assumed cost per cycle for accounts in standard handling.
    """
    pd_ = accounts["pd"].to_numpy(dtype=float)
    exposure = np.maximum(
        accounts["outstanding_balance"].to_numpy(dtype=float),
        accounts["overdue_amount"].to_numpy(dtype=float),
    )
    standard = (result["handling"] == "standard").to_numpy()
    costs = np.array([t.ev.cost for t in policy.tiers])
    lab = None if labels is None else pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float)
    if lab is not None and np.isnan(lab).all():
        lab = None

    def block(col: str) -> dict[str, dict[str, Any]]:
        t = result[col].to_numpy(dtype=np.int64)
        return _per_tier(t, pd_, exposure, np.where(standard, costs[t], 0.0), lab, policy)

    final, by_rules, by_ev = block("tier"), block("rule_tier"), block("ev_tier")
    cross = pd.crosstab(result["rule_tier"], result["ev_tier"])
    crosstab = {
        f"T{i}": {
            f"T{j}": int(cross.loc[i, j]) if i in cross.index and j in cross.columns else 0
            for j in range(policy.n_tiers)
        }
        for i in range(policy.n_tiers)
    }
    g_counts = {name: 0 for name in GUARDRAILS}
    for text, k in result["guardrails"].value_counts().items():
        for name in split_names(text):
            g_counts[name] += int(k)
    summary: dict[str, Any] = {
        "accounts": int(len(result)),
        "exposure": float(exposure.sum()),
        "expected_loss": float((pd_ * exposure).sum()),
        "contact_cost": float(sum(r["contact_cost"] for r in final.values())),
        "mode": str(result["mode"].iloc[0]) if len(result) else None,
        "tiers": final,
        "rules_tiers": by_rules,
        "ev_tiers": by_ev,
        "rules_vs_ev": {
            "agree_share": float((result["rule_tier"] == result["ev_tier"]).mean())
            if len(result)
            else None,
            "crosstab_rules_by_ev": crosstab,
        },
        "guardrails_applied": g_counts,
        "handling": {str(k): int(v) for k, v in result["handling"].value_counts().items() if k},
        "rules_fired": {str(k): int(v) for k, v in result["rule"].value_counts().items() if k},
    }
    if lab is not None:
        summary["labelled"] = int((~np.isnan(lab)).sum())
        summary["bad_rate"] = float(np.nanmean(lab))
        summary["bad_rate_rises_with_tier"] = bad_rate_rises(final)
        summary["bad_rate_rises_with_rules_tier"] = bad_rate_rises(by_rules)
        summary["bad_rate_rises_with_ev_tier"] = bad_rate_rises(by_ev)
    return summary


__all__ = [
    "ACCOUNT_COLUMNS",
    "FEATURE_COLUMN_MAP",
    "FIELDS",
    "GUARDRAILS",
    "MODES",
    "OUTPUT_COLUMNS",
    "accounts_from_features",
    "assign_tiers",
    "bad_rate_rises",
    "contact_allowed",
    "may_contact_at",
    "prepare_accounts",
    "split_names",
    "summarise_tiers",
]
