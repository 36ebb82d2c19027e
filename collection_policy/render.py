"""The reviewer-facing policy summary (reports/policy_summary.md), generated from the policy.

Reviewers read the policy in words, never the YAML; generating the text from the validated
object means the summary cannot drift from what the engine applies.
"""

from __future__ import annotations

from collection_policy.schema import CollectionPolicy, fmt_num
from collection_policy.vocabulary import CHANNELS, LEGAL_LIMITS


def policy_markdown(policy: CollectionPolicy) -> str:
    """A reviewer-facing description generated from the policy itself (never edited by hand)."""
    g = policy.guardrails
    cur = policy.currency
    lines = [
        f"# Collection policy: {policy.name} (version {policy.version})",
        "",
        f"Generated from `{policy.source}` (fingerprint `{policy.fingerprint()}`). "
        "Do not edit: change the policy file and rerun the `tiers` stage.",
        "",
    ]
    if policy.description:
        lines += [policy.description.strip(), ""]
    lines += [
        "## How an account gets its tier",
        "",
        "1. **Entry rules** are tried in ascending priority; the first rule that matches decides the "
        "tier. Rules sharing a priority never overlap (checked), every possible account matches a "
        "rule (checked on the exact grid of rule thresholds), and every rule can fire.",
        "2. **Guardrails** then cap the tier and strip channels; they apply in every mode and no rule "
        "or score overrides them. Every assignment records the deciding rule and each guardrail "
        "that capped or changed it.",
        "3. In **expected-value mode** the tier is instead the one, among those the guardrails allow, "
        f"with the highest expected recovery minus contact cost: `{policy.ev_exposure} x PD x "
        "cure_rate x (1 - commission) - cost` (T0 = 0; ties go to the gentler tier). Both "
        "assignments are reported side by side.",
        f"4. Tiers never fall as {', '.join(policy.monotone_in)} rise, all else equal (checked).",
        "",
        "## Tiers",
        "",
        "| Tier | Channels | Caps | Offer | Entry minimum | Cure rate | Cost | Commission | EV mode |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in policy.tiers:
        digital = any(CHANNELS[c].kind == "digital" for c in t.channels)
        caps = [f"{t.messages_per_day} msg/day"] if digital else []
        if t.connected_calls_per_day is not None:
            caps.append(f"{t.connected_calls_per_day} connected calls/day")
        if t.call_attempts_per_7_days is not None:
            caps.append(f"{t.call_attempts_per_7_days} attempts/7 days")
        entry = []
        if t.min_days_past_due:
            entry.append(f"DPD >= {t.min_days_past_due}")
        if t.min_overdue_amount:
            entry.append(f"overdue >= {fmt_num(t.min_overdue_amount)} {cur}")
        lines.append(
            f"| **{t.label}** | {', '.join(t.channels) or 'none'} | {'; '.join(caps) or '-'} | "
            f"{t.offer or '-'} | {'; '.join(entry) or '-'} | {t.ev.cure_rate:g} | "
            f"{t.ev.cost:g} {cur} | {t.ev.commission:g} | {'yes' if t.ev.eligible else 'never'} |"
        )
    lines += [
        "",
        "## Entry rules (in evaluation order)",
        "",
        "| Priority | Rule | When | Tier | Channels / offer override |",
        "|---|---|---|---|---|",
    ]
    for r in policy.rules:
        over = []
        if r.channels is not None:
            over.append("channels: " + (", ".join(r.channels) or "none"))
        if r.offer:
            over.append(f"offer: {r.offer}")
        lines.append(
            f"| {r.priority} | `{r.name}` | {r.describe()} | {policy.tier(r.tier).label} | "
            f"{'; '.join(over) or '-'} |"
        )
    fv = g.field_visits
    lines += [
        "",
        "## Guardrails (hard; no rule, score or mode overrides them)",
        "",
        f"- `contact_window`: contact only {g.contact_window.describe()} in the account's own time "
        f"zone (unknown zone: {g.contact_window.default_timezone}, recorded as "
        "`unknown_timezone`).",
        f"- `call_caps`: at most {g.call_caps.connected_calls_per_day} connected calls a day and "
        f"{g.call_caps.call_attempts_per_7_days} call attempts in 7 days per debtor (agencies bound "
        "by the same caps).",
        "- `no_field_visit`: home visits "
        + (
            f"only where DPD >= {fv.min_days_past_due} and balance >= {fmt_num(fv.min_balance)} "
            f"{cur}; removed elsewhere."
            if fv.enabled
            else "are disabled; the channel is removed wherever a tier lists it."
        ),
        f"- `first_time_small_overdue`: a first-time delinquency with less than "
        f"{fmt_num(g.first_time_small_overdue.threshold)} {cur} overdue stays at or below "
        f"{policy.tier(g.first_time_small_overdue.max_tier).label}: never calls or beyond.",
        f"- `small_balance`: a balance (max of outstanding and overdue) below "
        f"{fmt_num(g.small_balance.threshold)} {cur} stays at or below "
        f"{policy.tier(g.small_balance.max_tier).label}.",
        "- `tier_entry_minimum`: a tier is only reachable past its entry minimum (table above).",
        "- `no_third_party_contact`: no channel may tell anyone but the debtor about the debt; "
        "third-party channels are rejected at load and stripped at run time.",
        "- `stop_contact_<flag>`: flagged accounts leave escalation for their handling route "
        "(first flag in this order wins the route; every flag set is recorded):",
        "",
        "| Flag | Route | Channels | Max tier | Offer |",
        "|---|---|---|---|---|",
    ]
    for s in g.stop_contact:
        lines.append(
            f"| {s.flag} | {s.route} | {', '.join(s.channels) or 'none'} | "
            f"{policy.tier(s.max_tier).label} | {s.offer or '-'} |"
        )
    law = LEGAL_LIMITS
    lines += [
        "",
        "Statutory ceilings enforced in code (a policy may tighten, never loosen): contact "
        f"{law.earliest_contact:%H:%M}-{law.latest_contact:%H:%M} local time, "
        f"{law.connected_calls_per_day} connected calls/day, {law.call_attempts_per_7_days} call "
        f"attempts/7 days, no home visit before {law.field_visit_min_days_past_due} DPD.",
        "",
    ]
    return "\n".join(lines)
