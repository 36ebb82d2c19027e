"""What the tiers stage reports: per-tier summaries, the headline numbers and the figure.

Kept beside the engine, not in the stage, so the same numbers come out wherever a book is tiered
(the stage, a notebook, the back-test) and the stage only writes them.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from collection_policy.engine import GUARDRAILS, split_names
from collection_policy.policy import CollectionPolicy
from collection_policy.vocabulary import CHANNELS

#: Channels that call, visit or refer (never below the call floor).
_CALL_CHANNELS = frozenset(n for n, c in CHANNELS.items() if c.is_call_or_beyond)

#: Headline flags: whether the observed bad rate rises with the tier of each assignment.
RISE_FLAGS = ("bad_rate_rises_with_rules_tier", "bad_rate_rises_with_ev_tier")


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


def floor_check(
    accounts: pd.DataFrame, result: pd.DataFrame, policy: CollectionPolicy
) -> dict[str, Any]:
    """Accounts breaking an amount floor (all zero for a sound policy): final tiers below their
    tier's `min_overdue_amount`, and call / visit / referral channels below the call floor."""
    overdue = accounts["overdue_amount"].to_numpy(dtype=float)
    tier = result["tier"].to_numpy(dtype=np.int64)
    floors = np.array([t.min_overdue_amount for t in policy.tiers])
    below_tier = {
        f"T{t.id}": int(((tier == t.id) & (overdue < t.min_overdue_amount)).sum())
        for t in policy.tiers
        if t.min_overdue_amount
    }
    out: dict[str, Any] = {
        "below_tier_floor": below_tier,
        "below_tier_floor_total": int((overdue < floors[tier]).sum()),
    }
    cf = policy.guardrails.call_floor
    if cf is not None:
        calls = np.array(
            [bool(set(split_names(c)) & _CALL_CHANNELS) for c in result["channels"]], dtype=bool
        )
        out["call_floor"] = cf.threshold
        out["calls_below_call_floor"] = int((calls & (overdue < cf.threshold)).sum())
    return out


def summarise_tiers(
    accounts: pd.DataFrame,
    result: pd.DataFrame,
    policy: CollectionPolicy,
    labels: pd.Series | None = None,
) -> dict[str, Any]:
    """Tier metrics: accounts, exposure, expected loss (PD x balance), contact cost and, with
    labels, observed bad rate per tier, for the chosen mode and both assignments side by side.

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
        "floors": floor_check(accounts, result, policy),
    }
    if lab is not None:
        summary["labelled"] = int((~np.isnan(lab)).sum())
        summary["bad_rate"] = float(np.nanmean(lab))
        summary["bad_rate_rises_with_tier"] = bad_rate_rises(final)
        summary["bad_rate_rises_with_rules_tier"] = bad_rate_rises(by_rules)
        summary["bad_rate_rises_with_ev_tier"] = bad_rate_rises(by_ev)
    return summary


def tiers_headline(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers a reviewer compares across runs (`dvc metrics show`): accounts tiered, the
    share of them in each tier of the chosen mode, and whether the observed bad rate rises with
    the rules tier and the expected-value tier, on the labelled back-test when there is one, else
    on the tiered population's own labels (None: too few labelled accounts to tell)."""
    labelled = summary.get("backtest") or summary
    return {
        "accounts": summary["accounts"],
        "tier_share": {tier: row["share"] for tier, row in summary["tiers"].items()},
        **{flag: labelled.get(flag) for flag in RISE_FLAGS},
    }


def tiers_png(summary: Mapping[str, Any], policy: CollectionPolicy, dpi: int = 110) -> bytes:
    """Accounts and expected loss per tier under both assignments, and the back-test's observed
    bad rate per tier, as PNG bytes (reports/tiers.png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"T{t.id}" for t in policy.tiers]
    x = np.arange(len(labels))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, metric, title in (
        (axes[0], "accounts", "Accounts per tier"),
        (axes[1], "expected_loss", f"Expected loss (PD x exposure, {policy.currency})"),
    ):
        rules = [summary["rules_tiers"][k][metric] for k in labels]
        ev = [summary["ev_tiers"][k][metric] for k in labels]
        ax.bar(x - 0.2, rules, 0.4, label="rules")
        ax.bar(x + 0.2, ev, 0.4, label="expected value")
        ax.set_xticks(x, labels)
        ax.set_title(title)
        ax.legend()
    backtest = summary.get("backtest") or {}
    ax = axes[2]
    if backtest.get("rules_tiers"):
        for key, name in (("rules_tiers", "rules"), ("ev_tiers", "expected value")):
            rates = [backtest[key][k].get("bad_rate") for k in labels]
            ax.plot(x, [np.nan if v is None else v for v in rates], marker="o", label=name)
        ax.set_title(
            f"Observed bad rate per tier ({backtest.get('split')}, n={backtest.get('accounts')})"
        )
        ax.set_xticks(x, labels)
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no labelled back-test", ha="center", va="center")
        ax.set_axis_off()
    fig.suptitle(f"Collection tiers: {policy.name} {policy.version} (mode: {summary['mode']})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
