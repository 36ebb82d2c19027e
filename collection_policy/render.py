"""The reviewer-facing policy summary (reports/policy_summary.md), generated from the policy.

Reviewers read the policy in words, never the YAML; generating the text from the validated
object means the summary cannot drift from what the engine applies.
"""

from __future__ import annotations

from collection_policy.policy import CollectionPolicy, fmt_num
from collection_policy.vocabulary import CHANNELS, CODE_GUARDRAILS, LEGAL_LIMITS


def _basis(text: str) -> str:
    """A guardrail's basis as one markdown line (the YAML may fold it over lines)."""
    return " ".join(text.split()) if text else "(no basis given)"


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
        "cure_rate x (1 - commission) - cost` (T0 = 0; ties go to the gentler tier). Where an "
        "outcome history exists (`tiers.history_file`, or the built-in book's simulated one), "
        "past-due accounts use rates learned from it instead of the assumed cure rates below: "
        f"`{policy.ev_exposure} x P(no cure under the minimum treatment | DPD bucket, PD band) x "
        "uplift(tier | DPD bucket) x (1 - commission) - cost`, the uplift measured on randomised "
        "tiers and never falling with the tier (`collection_policy/rate_learning.py`). Both "
        "assignments are reported side by side.",
        f"4. Tiers never fall as {', '.join(policy.monotone_in)} rise, all else equal (checked on "
        "the rule grid"
        + (
            "; nor when an account is repeat or wilful, checked the same way). Accounts only leave "
            "the ladder for a human handling route (stop-contact flags, suspected fraud, a "
            "write-off recommendation below the legal floor): such routes use queues and written "
            "notices only."
            if policy.routes is not None
            else ")."
        ),
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
    code = dict(g.enforced_in_code)

    def cite(text: str) -> str:
        return f"  *Basis:* {_basis(text)}"

    lines += [
        "",
        "## Guardrails (hard; no rule, score or mode overrides them)",
        "",
        "Each guardrail names the rule behind it (the policy's `basis`; (check) marks a number "
        "that came through secondary sources).",
        "",
        f"- `contact_window`: contact only {g.contact_window.describe()} in the account's own time "
        f"zone (unknown zone: {g.contact_window.default_timezone}, recorded as "
        "`unknown_timezone`).",
        cite(g.contact_window.basis),
        f"- `call_caps`: at most {g.call_caps.connected_calls_per_day} connected calls a day and "
        f"{g.call_caps.call_attempts_per_7_days} call attempts in 7 days per debtor (agencies bound "
        "by the same caps).",
        cite(g.call_caps.basis),
        "- `no_field_visit`: home visits "
        + (
            f"only where DPD >= {fv.min_days_past_due} and balance >= {fmt_num(fv.min_balance)} "
            f"{cur}; removed elsewhere."
            if fv.enabled
            else "are disabled; the channel is removed wherever a tier lists it."
        ),
        cite(fv.basis),
        f"- `first_time_small_overdue`: a first-time delinquency with less than "
        f"{fmt_num(g.first_time_small_overdue.threshold)} {cur} overdue stays at or below "
        f"{policy.tier(g.first_time_small_overdue.max_tier).label}: never calls or beyond.",
        cite(g.first_time_small_overdue.basis),
        f"- `small_balance`: a balance (max of outstanding and overdue) below "
        f"{fmt_num(g.small_balance.threshold)} {cur} stays at or below "
        f"{policy.tier(g.small_balance.max_tier).label}.",
        cite(g.small_balance.basis),
    ]
    if g.call_floor is not None:
        lines += [
            f"- `call_floor`: less than {fmt_num(g.call_floor.threshold)} {cur} overdue stays at "
            f"or below {policy.tier(g.call_floor.max_tier).label} at any days past due: no call, "
            "visit or referral (a soft tier; call channels are also stripped as a backstop).",
            cite(g.call_floor.basis),
        ]
    floors = [t for t in policy.tiers if t.min_overdue_amount]
    lines += [
        "- `tier_entry_minimum`: a tier is only reachable past its entry minimum (table above)"
        + (
            "; amount floors: "
            + ", ".join(f"{t.label} {fmt_num(t.min_overdue_amount)} {cur}" for t in floors)
            if floors
            else ""
        )
        + ".",
        cite(code.get("tier_entry_minimum", "")),
        "- `soft_tier_no_calls`: tiers up to "
        f"{policy.tier(policy.soft_max_tier).label} never call, visit or refer (checked at load, "
        "stripped at run time).",
        cite(code.get("soft_tier_no_calls", "")),
        "- `no_third_party_contact`: no channel may tell anyone but the debtor about the debt; "
        "third-party channels are rejected at load and stripped at run time.",
        cite(code.get("no_third_party_contact", "")),
        "- `unknown_timezone`: an unknown zone is contacted in the default zone's window.",
        cite(code.get("unknown_timezone", "")),
        "- `human_decision`: legal review, write-off and fraud review are queues a person "
        "decides; expected-value mode never picks legal review.",
        cite(code.get("human_decision", "")),
    ]
    notice = g.credit_bureau_notice
    if notice is not None:
        lines += [
            f"- `credit_bureau_notice`: a written notice ({', '.join(notice.channels)}) from "
            f"{notice.notice_from_days_past_due} DPD; no negative credit report before "
            f"{notice.report_from_days_past_due} DPD, so the borrower hears at least "
            f"{notice.report_from_days_past_due - notice.notice_from_days_past_due} days first. "
            f"`credit_report_hold`: notice and reporting held under "
            f"{', '.join(notice.hold_routes) or 'no route'}.",
            cite(notice.basis),
        ]
    lines += [
        "- `stop_contact_<flag>`: flagged accounts leave escalation for their handling route "
        "(first flag in this order wins the route; every flag set is recorded):",
        "",
        "| Flag | Route | Channels | Max tier | Offer | Basis |",
        "|---|---|---|---|---|---|",
    ]
    for s in g.stop_contact:
        lines.append(
            f"| {s.flag} | {s.route} | {', '.join(s.channels) or 'none'} | "
            f"{policy.tier(s.max_tier).label} | {s.offer or '-'} | {_basis(s.basis)} |"
        )
    missing = [n for n in CODE_GUARDRAILS if n not in code]
    if missing:
        lines += ["", f"Guardrails enforced in code without a stated basis: {', '.join(missing)}."]
    r = policy.routes
    if r is not None:
        f, w, rw = r.suspected_fraud, r.write_off_recommendation, r.repeat_or_wilful
        floor = policy.tier(w.below_floor_of_tier)
        lines += [
            "",
            "## Handling routes (after the stop-contact flags, in this order)",
            "",
            "| Route | When | Effect | Channels | Offer | Basis |",
            "|---|---|---|---|---|---|",
            f"| `{f.route}` (recorded as `suspected_fraud`) | never_paid and days_past_due >= "
            f"{f.min_days_past_due} | at most {policy.tier(f.max_tier).label}; never a "
            f"collector | {', '.join(f.channels)} | {f.offer or '-'} | {_basis(f.basis)} |",
            f"| `{w.route}` | the rules send it to {floor.label}"
            f"{'' if floor.id == policy.n_tiers - 1 else ' or above'} with less than "
            f"{fmt_num(floor.min_overdue_amount)} {cur} overdue | at most "
            f"{policy.tier(w.max_tier).label}; no agency, no legal action | "
            f"{', '.join(w.channels)} | {w.offer or '-'} | {_basis(w.basis)} |",
            f"| `{rw.route}` | past due and delinquency_episodes >= "
            f"{rw.min_delinquency_episodes} or broken_promises >= {rw.min_broken_promises} | "
            "entry rules reading `repeat_or_wilful` escalate sooner; every guardrail applies | "
            f"the tier's | - | {_basis(rw.basis)} |",
            "",
        ]
        for route in (f, w, rw):
            if route.description:
                lines.append(f"- `{route.route}`: {_basis(route.description)}")
    law = LEGAL_LIMITS
    lines += [
        "",
        "Statutory ceilings enforced in code (a policy may tighten, never loosen): contact "
        f"{law.earliest_contact:%H:%M}-{law.latest_contact:%H:%M} local time, "
        f"{law.connected_calls_per_day} connected calls/day, {law.call_attempts_per_7_days} call "
        f"attempts/7 days, no home visit before {law.field_visit_min_days_past_due} DPD, "
        f"negative credit reporting at least {law.credit_notice_min_lead_days} day(s) after the "
        "borrower's notice (征信业管理条例 Art. 15).",
        "",
    ]
    return "\n".join(lines)
