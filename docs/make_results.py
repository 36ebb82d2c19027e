"""Render docs/results.md from the pipeline's reports (reports/*.json).

Why a script: the results page must show the numbers of the run that produced the reports, not
numbers typed by hand that drift after the next `dvc repro`. Every figure on the page is read
from a report here; prose about a figure is worded from the figure (above/below a line, covers or
not), never asserted. A value a report lacks is rendered "n/a"; a report file that is missing
turns its section into one line naming the file. A report that is not valid JSON stops the script
with the file and position (a broken run, not a partial one).

    python docs/make_results.py [--reports reports] [--out docs/results.md] [--check]

Only the standard library: the page can be rebuilt without the project's data or packages.
`render_results` (pure: parsed reports in, Markdown out) and `read_reports` are the library;
`main` is the thin entry point. tests/docs/test_results.py checks that the committed page equals
the script's output on the committed reports.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]

# The reports the page is made of (paths relative to the reports directory).
REPORT_FILES: tuple[str, ...] = (
    "ingest.json",
    "data_quality.json",
    "metrics.json",
    "validation.json",
    "promotion.json",
    "monitoring.json",
    "fairness.json",
    "explain.json",
    "tiers.json",
    "deciles.json",
)

NA = "n/a"  # a value the report lacks (or holds as null, NaN or a non-number)
NOT_MEASURED = "—"  # a cell the pipeline never computes for that row
FOUR_FIFTHS = 0.8  # the four-fifths rule for adverse impact ratios (a convention, not a result)


class ReportReadError(ValueError):
    """A report file exists but cannot be read as JSON."""


# --------------------------------------------------------------------------------- reading
def read_reports(reports_dir: Path) -> dict[str, Any]:
    """Parse every known report under `reports_dir`; files that are absent are absent keys."""
    reports: dict[str, Any] = {}
    for name in REPORT_FILES:
        path = reports_dir / name
        if not path.is_file():
            continue
        try:
            reports[name] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ReportReadError(
                f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
            ) from err
        except UnicodeDecodeError as err:
            raise ReportReadError(f"{path}: not UTF-8 text ({err.reason})") from err
    return reports


def _dig(obj: Any, *path: str | int) -> Any:
    """obj[p0][p1]...; None as soon as a key is missing or a level has the wrong type."""
    for key in path:
        in_list = isinstance(key, int) and isinstance(obj, list) and -len(obj) <= key < len(obj)
        in_dict = isinstance(key, str) and isinstance(obj, dict) and key in obj
        if not (in_list or in_dict):
            return None
        obj = obj[key]
    return obj


def _num(value: Any) -> float | None:
    """A finite real number, else None (booleans, strings, NaN and infinities are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    """A string from a report, safe inside a Markdown table cell; a number as `plain` writes it."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return plain(value)
    if value is None:
        return NA
    return " ".join(str(value).split()).replace("|", "\\|")


def _flag(value: Any, yes: str, no: str, missing: str = NA) -> str:
    """Words for a boolean of a report; anything but true or false (1, "yes", null) is missing."""
    if value is True:
        return yes
    return no if value is False else missing


def _code(value: Any) -> str:
    return f"`{_text(value)}`" if isinstance(value, str) and value else NA


# ------------------------------------------------------------------------------ formatting
def fixed(value: Any, digits: int) -> str:
    """Fixed-point, never scientific; a value that rounds to zero is printed without a sign."""
    number = _num(value)
    if number is None:
        return NA
    if round(number, digits) == 0:
        number = 0.0
    return f"{number:.{digits}f}"


def plain(value: Any) -> str:
    """A configured number (a threshold, a margin) as written: 0.005, 0.25, 100; never scientific."""
    number = _num(value)
    if number is None:
        return NA
    return f"{number:.10f}".rstrip("0").rstrip(".") or "0"


def signed(value: Any, digits: int) -> str:
    number = _num(value)
    if number is None:
        return NA
    if round(number, digits) == 0:
        return f"{0.0:.{digits}f}"
    return f"{number:+.{digits}f}"


def count(value: Any) -> str:
    """A count with thousands separators."""
    number = _num(value)
    return NA if number is None else f"{round(number):,}"


def pct(value: Any, digits: int = 1) -> str:
    """A rate (0..1) as a percentage."""
    number = _num(value)
    if number is None:
        return NA
    return f"{fixed(number * 100, digits)}%"


def points(value: Any, digits: int = 1) -> str:
    """A difference of rates in percentage points, signed."""
    number = _num(value)
    return NA if number is None else f"{signed(number * 100, digits)} pts"


def p_value(value: Any) -> str:
    number = _num(value)
    if number is None:
        return NA
    if number < 0.0001:
        return "< 0.0001"
    return f"{number:.4f}" if number < 0.01 else f"{number:.3f}"


def tiny(value: Any, floor: float = 1e-6) -> str:
    """A numerical error: below `floor` it is just "< floor" (never scientific notation)."""
    number = _num(value)
    if number is None:
        return NA
    if abs(number) < floor:
        return f"< {floor:.{max(0, -math.floor(math.log10(floor)))}f}"
    return f"{number:.6f}"


def with_ci(value: Any, low: Any, high: Any, fmt: Callable[[Any], str]) -> str:
    """'est [low, high]'; the interval is left out when the report has none."""
    est = fmt(value)
    if est == NA:
        return NA
    if _num(low) is None and _num(high) is None:
        return est
    return f"{est} [{fmt(low)}, {fmt(high)}]"


def interval_pair(pair: Any, fmt: Callable[[Any], str]) -> str:
    items = _list(pair)
    if len(items) != 2:
        return NA
    return f"[{fmt(items[0])}, {fmt(items[1])}]"


def share(value: Any) -> str:
    """A level such as 0.95 as '95%'."""
    number = _num(value)
    if number is None:
        return NA
    text = f"{number * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def auc(value: Any) -> str:
    return fixed(value, 4)


def oe(value: Any) -> str:
    return fixed(value, 2)


def psi(value: Any) -> str:
    return fixed(value, 3)


def table(header: str, rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """A Markdown table from a header "a | b | c"; `align` has one letter per column, l(eft) or
    r(ight) (default: the first column left, the others right)."""
    header_cells = header.split(" | ")
    align = align or "l" + "r" * (len(header_cells) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + header + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _verdict_vs_zero(low: Any, high: Any, level: str) -> str:
    lo, hi = _num(low), _num(high)
    if lo is None or hi is None:
        return "interval n/a"
    if lo > 0:
        return f"above zero at {level}"
    if hi < 0:
        return f"below zero at {level}"
    return f"not different from zero at {level}"


def _oe_words(low: Any, high: Any) -> str:
    lo, hi = _num(low), _num(high)
    if lo is None or hi is None:
        return "interval n/a"
    if lo > 1:
        return "more defaults than predicted (interval above 1)"
    if hi < 1:
        return "fewer defaults than predicted (interval below 1)"
    return "consistent with 1"


def _against_line(value: Any, line: float, digits: int = 3) -> str:
    number = _num(value)
    if number is None:
        return NA
    where = "below" if number < line else "at or above"
    return f"{fixed(number, digits)} ({where} the {line:g} line)"


def _label(name: Any) -> str:
    """`dpd_1_30` -> '1-30 days past due', `not_past_due` -> 'not past due'."""
    text = str(name)
    if text.startswith("dpd_"):
        return text[4:].replace("_", "-") + " days past due"
    return text.replace("_", " ")


# -------------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class Reports:
    """Parsed reports by file name, with safe access."""

    data: Mapping[str, Any]

    def get(self, name: str, *path: str | int) -> Any:
        return _dig(self.data.get(name), *path)


@dataclass(frozen=True)
class Section:
    title: str
    needs: tuple[str, ...]
    body: Callable[[Reports], list[str]]


def _data(r: Reports) -> list[str]:
    ingest, quality = "ingest.json", "data_quality.json"
    lines = [
        f"Source: {_code(r.get(ingest, 'source'))}. Ingest read {count(r.get(ingest, 'rows_in'))} "
        f"rows, kept {count(r.get(ingest, 'rows_kept'))} and rejected "
        f"{count(r.get(ingest, 'rows_rejected'))} (`reports/ingest.json`).",
        "",
    ]
    tables = _dict(r.get(ingest, "tables"))
    if tables:
        rows = [
            [
                f"`{_text(name)}`",
                count(_dig(t, "rows_in")),
                count(_dig(t, "rows_kept")),
                count(_dig(t, "rows_rejected")),
            ]
            for name, t in tables.items()
        ]
        lines += table("table | rows in | kept | rejected", rows) + [""]
    by_rule = _dict(r.get(ingest, "rejected_by_rule"))
    if by_rule:
        lines += ["Rejected rows by rule:", ""]
        lines += table("rule | rows", [[_text(k), count(v)] for k, v in by_rule.items()])
        lines.append("")
    features = _list(r.get(quality, "features"))
    suspects = [f for f in features if _dig(f, "leak_suspect") is True]
    threshold = r.get(quality, "leakage_auc_threshold")
    max_auc = _num(r.get(quality, "max_auc"))
    if max_auc is None or _num(threshold) is None:
        guard = "n/a"
    elif max_auc > float(threshold):
        guard = "above"
    else:
        guard = "below"
    lines.append(
        f"Feature table: {count(r.get(quality, 'rows'))} rows, "
        f"{count(r.get(quality, 'n_features'))} features, training default rate "
        f"{pct(r.get(quality, 'train_default_rate'), 2)}. The strongest single feature alone "
        f"reaches AUC {auc(max_auc)}, {guard} the leakage stop at {plain(threshold)}; "
        f"leak suspects flagged: {count(len(suspects)) if features else NA}"
        + (
            " (" + ", ".join(f"`{_text(_dig(f, 'feature'))}`" for f in suspects) + ")"
            if suspects
            else ""
        )
        + f". Largest feature PSI {_text(r.get(quality, 'reference_split'))} -> "
        f"{_text(r.get(quality, 'comparison_split'))}: {psi(r.get(quality, 'max_psi'))} "
        "(`reports/data_quality.json`)."
    )
    return lines


_SAMPLE_NAMES = {
    "train": "train",
    "holdout": "development hold-out",
    "calibration": "calibration sample",
    "test": "out-of-time test",
    "score": "current book",
}


def _samples(r: Reports) -> list[str]:
    samples = _dict(r.get("validation.json", "samples"))
    rows = [
        [
            _SAMPLE_NAMES.get(name, _text(name)),
            count(_dig(s, "n")),
            f"`{_text(_dig(s, 'window'))}`",
            _text(_dig(s, "used_for")),
        ]
        for name, s in samples.items()
        if isinstance(s, dict)
    ]
    if not rows:
        return [f"{NA}: `reports/validation.json` has no `samples`."]
    return table("sample | rows | window | used for", rows, "lrll")


def _discrimination(r: Reports) -> list[str]:
    v, m = "validation.json", "metrics.json"
    level = share(r.get(v, "config", "level"))
    test = _dict(r.get(v, "discrimination", "test"))
    npd = _dict(r.get(v, "discrimination", "segments", "not_past_due"))
    card = _dict(r.get(v, "oracle", "discrimination"))
    periods = ", ".join(_text(p) for p in _list(r.get(v, "samples", "test", "periods"))) or NA
    lines = [
        f"Out-of-time test: {count(test.get('n'))} rows ({count(test.get('defaults'))} defaults, "
        f"bad rate {pct(test.get('bad_rate'), 2)}), periods {periods}. AUC intervals are {level} "
        f"DeLong, KS intervals bootstrap ({count(r.get(v, 'config', 'ks_bootstrap'))} resamples). "
        f"({NOT_MEASURED} = not computed for that model.)",
        "",
    ]
    d4 = auc
    rows = [
        [
            "LightGBM PD model",
            with_ci(test.get("auc"), test.get("auc_low"), test.get("auc_high"), d4),
            with_ci(npd.get("auc"), npd.get("auc_low"), npd.get("auc_high"), d4),
            with_ci(test.get("ks"), test.get("ks_low"), test.get("ks_high"), lambda x: fixed(x, 3)),
            fixed(r.get(m, "test", "brier"), 4),
        ],
        [
            "WoE scorecard challenger (same run)",
            with_ci(
                r.get(v, "scorecard", "test", "auc"),
                r.get(v, "scorecard", "test", "auc_low"),
                r.get(v, "scorecard", "test", "auc_high"),
                d4,
            ),
            NOT_MEASURED,
            NOT_MEASURED,
            NOT_MEASURED,
        ],
        [
            "logistic baseline (same run)",
            auc(r.get(m, "baseline_test", "auc")),
            NOT_MEASURED,
            fixed(r.get(m, "baseline_test", "ks"), 3),
            fixed(r.get(m, "baseline_test", "brier"), 4),
        ],
        [
            "oracle: the generator's true PD",
            with_ci(card.get("auc"), card.get("auc_low"), card.get("auc_high"), d4),
            auc(r.get(m, "segments", "not_past_due", "oracle_auc")),
            NOT_MEASURED,
            fixed(r.get(m, "oracle_test", "brier"), 4),
        ],
    ]
    lines += table("model | test AUC [CI] | not past due AUC [CI] | KS [CI] | Brier", rows)
    vs_card = _dict(r.get(v, "vs_scorecard"))
    vs_oracle = _dict(r.get(v, "oracle", "model_vs_oracle"))
    baseline = next(
        (c for c in _list(r.get("promotion.json", "checks")) if _dig(c, "check") == "vs_baseline"),
        {},
    )
    lines += [
        "",
        f"Paired DeLong tests on the same {count(test.get('n'))} test rows:",
        "",
        f"- model − scorecard {signed(vs_card.get('diff'), 4)} "
        f"[{signed(vs_card.get('low'), 4)}, {signed(vs_card.get('high'), 4)}], "
        f"p {p_value(vs_card.get('p'))}: "
        f"{_verdict_vs_zero(vs_card.get('low'), vs_card.get('high'), share(vs_card.get('level')))};",
        f"- model − logistic baseline {signed(_dig(baseline, 'diff'), 4)} "
        f"(se {fixed(_dig(baseline, 'se'), 4)}; `reports/promotion.json`);",
        f"- model − oracle {signed(vs_oracle.get('diff'), 4)} "
        f"[{signed(vs_oracle.get('low'), 4)}, {signed(vs_oracle.get('high'), 4)}], "
        f"p {p_value(vs_oracle.get('p_value'))}: "
        f"{_verdict_vs_zero(vs_oracle.get('low'), vs_oracle.get('high'), share(vs_oracle.get('level')))}.",
    ]
    if _num(card.get("auc")) is not None:
        lines += [
            "",
            "The oracle is the probability the generator drew each label from: it knows the "
            "month's macro factor and each customer's hidden cure propensity, which no model of "
            "the account data sees; a reference, not a target a model of these data can reach.",
        ]
    return lines


def _past_due_words(r: Reports) -> list[str]:
    """Why the pooled AUC can exceed the AUC among current accounts, said only when it does."""
    v = "validation.json"
    pooled = _num(r.get(v, "discrimination", "test", "auc"))
    n_test = _num(r.get(v, "discrimination", "test", "n"))
    segments = _dict(r.get(v, "discrimination", "segments"))
    current = _dict(segments.get("not_past_due"))
    late = {k: _dict(s) for k, s in segments.items() if k != "not_past_due"}
    rates = [_num(s.get("bad_rate")) for s in late.values()]
    n_late = [_num(s.get("n")) for s in late.values()]
    npd_auc, npd_rate = _num(current.get("auc")), _num(current.get("bad_rate"))
    known = None not in (pooled, n_test, npd_auc, npd_rate) and late
    if not known or None in rates or None in n_late or not n_test:
        return []
    if not (pooled > npd_auc and min(rates) > npd_rate):
        return []
    return [
        "",
        f"Accounts already past due are {pct(sum(n_late) / n_test)} of the test and go bad "
        f"more often ({', '.join(pct(x, 0) for x in rates)} by bucket, against "
        f"{pct(npd_rate)} for current accounts), so ranking them above current accounts is easy: "
        f"the pooled AUC ({auc(pooled)}) is above the AUC among accounts not past due "
        f"({auc(npd_auc)}), where the model must tell risk apart from behaviour alone.",
    ]


def _segments(r: Reports) -> list[str]:
    v, m = "validation.json", "metrics.json"
    segments = _dict(r.get(v, "discrimination", "segments"))
    rows = []
    for name, seg in segments.items():
        model, oracle = _dig(seg, "auc"), r.get(m, "segments", name, "oracle_auc")
        gap = _num(model) - _num(oracle) if None not in (_num(model), _num(oracle)) else None
        rows.append(
            [
                _label(name),
                count(_dig(seg, "n")),
                pct(_dig(seg, "bad_rate")),
                with_ci(model, _dig(seg, "auc_low"), _dig(seg, "auc_high"), auc),
                auc(oracle),
                signed(gap, 4),
            ]
        )
    lines = ["By days past due at the snapshot (test split):", ""]
    lines += table(
        "segment | rows | bad rate | AUC [CI] | oracle AUC | model − oracle",
        rows or [[NA] * 6],
    )
    lines += _past_due_words(r)
    periods = _dict(r.get(v, "discrimination", "periods"))
    extra = {
        p["period"]: p
        for p in _list(r.get(m, "oot_periods"))
        if isinstance(p, dict) and isinstance(p.get("period"), str)
    }
    rows, gaps = [], []
    for name, per in periods.items():
        model, oracle = _dig(per, "auc"), _dig(extra.get(name), "oracle_auc")
        gap = _num(model) - _num(oracle) if None not in (_num(model), _num(oracle)) else None
        if gap is not None:
            gaps.append(gap)
        rows.append(
            [
                _text(name),
                count(_dig(per, "n")),
                pct(_dig(per, "bad_rate")),
                pct(_dig(extra.get(name), "mean_pd")),
                with_ci(model, _dig(per, "auc_low"), _dig(per, "auc_high"), auc),
                auc(oracle),
                signed(gap, 4),
            ]
        )
    lines += ["", "By out-of-time period:", ""]
    lines += table(
        "period | rows | bad rate | mean PD | AUC [CI] | oracle AUC | model − oracle",
        rows or [[NA] * 7],
    )
    pooled = r.get(v, "oracle", "model_vs_oracle", "diff")
    if gaps and _num(pooled) is not None and float(pooled) < 0:
        within = sum(gaps) / len(gaps)
        between = 1 - within / float(pooled)
        trails = "trails the oracle by" if within < 0 else "is ahead of the oracle by"
        if between > 0:
            words = (
                f"so about {fixed(between * 100, 0)}% of the pooled gap lies between periods "
                "(where a factor common to every account of a month, such as the generator's "
                "macro factor, acts) and the rest within them"
            )
        else:
            words = "so none of the pooled gap lies between periods"
        lines += [
            "",
            f"Within a period the model {trails} {fixed(abs(within), 4)} on average, "
            f"against {fixed(-float(pooled), 4)} on the pooled test, {words}.",
        ]
    disjoint = _dict(r.get(m, "customer_disjoint_test"))
    lines += [
        "",
        f"Test accounts whose customer is not in training: {count(disjoint.get('n'))} rows, "
        f"AUC {auc(disjoint.get('auc'))}.",
    ]
    return lines


def _calibration(r: Reports) -> list[str]:
    v = "validation.json"
    cfg = _dict(r.get(v, "config"))
    summary = _dict(r.get(v, "calibration_summary"))
    hl = _dict(r.get(v, "hosmer_lemeshow_by_sample"))
    grades = _list(r.get(v, "calibration_by_grade"))
    sizes = [_num(_dig(g, "n")) for g in grades]
    known = [s for s in sizes if s is not None]
    largest = (
        max(known) / sum(known) if known and len(known) == len(sizes) and sum(known) > 0 else None
    )
    lines = [
        f"Jeffreys test per grade on the {count(len(grades)) if grades else NA}-grade master scale "
        f"(red p < {_text(cfg.get('red'))}, amber p < {_text(cfg.get('amber'))}; the largest "
        f"grade holds {pct(largest)} of the test rows); O/E = observed / expected defaults with its "
        f"{share(cfg.get('level'))} interval; Hosmer–Lemeshow over "
        f"{_text(cfg.get('hl_groups'))} groups.",
        "",
    ]

    def row(label: str, s: Any, h: Any) -> list[str]:
        return [
            label,
            count(_dig(s, "n")),
            count(_dig(s, "defaults")),
            count(_dig(s, "expected")),
            with_ci(_dig(s, "oe_ratio"), _dig(s, "oe_low"), _dig(s, "oe_high"), oe),
            f"{count(_dig(s, 'green'))} / {count(_dig(s, 'amber'))} / {count(_dig(s, 'red'))}",
            p_value(_dig(h, "p")),
        ]

    rows = [
        row(
            "development hold-out (the calibrator never saw it)",
            summary.get("holdout"),
            hl.get("holdout"),
        ),
        row(
            "calibration sample (in-sample for the calibrator)",
            summary.get("calibration"),
            hl.get("calibration"),
        ),
        row("out-of-time test", summary.get("test"), hl.get("test")),
    ]
    for name, s in _dict(summary.get("periods")).items():
        rows.append(row(f"test period {_text(name)}", s, _dig(hl, "periods", name)))
    oracle = _dict(r.get(v, "oracle"))
    rows.append(
        row(
            "oracle (true PD) on the test rows",
            oracle.get("summary"),
            oracle.get("hosmer_lemeshow"),
        )
    )
    for name, per in _dict(oracle.get("periods")).items():
        rows.append(
            row(f"oracle, period {_text(name)}", _dig(per, "summary"), _dig(per, "hosmer_lemeshow"))
        )
    lines += table(
        "sample | rows | defaults | expected | O/E [CI] | grades green / amber / red | HL p",
        rows,
    )
    test, hold = _dict(summary.get("test")), _dict(summary.get("holdout"))
    orc = _dict(oracle.get("summary"))
    gate_sample = next(
        (
            _dig(c, "sample")
            for c in _list(r.get(v, "gate", "checks"))
            if _dig(c, "check") == "calibration"
        ),
        None,
    )
    lines += [
        "",
        f"O/E on the hold-out: {_oe_words(hold.get('oe_low'), hold.get('oe_high'))}; on the "
        f"out-of-time test: {_oe_words(test.get('oe_low'), test.get('oe_high'))}; the true PD on "
        f"the same test rows: {_oe_words(orc.get('oe_low'), orc.get('oe_high'))}. The promotion "
        f"gate judges calibration on the {_code(gate_sample)} sample "
        "(`mlflow.gate.calibration_sample`); the monitor stage flags periods by O/E (below). A "
        "level recalibration, when a matured period's O/E moves away from 1, is not automated.",
    ]
    limits = [_text(x) for x in _list(r.get(v, "model_card", "limitations"))]
    if limits:
        lines += ["", "The model card's limitations (`reports/validation/report.html`):", ""]
        lines += [f"- {x}" for x in limits]
    return lines


def _gate_evidence(check: Mapping[str, Any]) -> str:
    kind = check.get("check")
    level = share(check.get("level"))
    if check.get("passed") is None and isinstance(check.get("detail"), str):
        return _text(check.get("detail"))  # not tested (e.g. no champion yet): the gate's words
    if kind == "floor":
        return (
            f"test AUC {with_ci(check.get('auc'), check.get('low'), check.get('high'), auc)}; "
            f"floor {_text(check.get('limit'))}"
        )
    if kind == "non_inferiority":
        return (
            f"challenger {auc(check.get('auc_challenger'))} vs champion "
            f"{auc(check.get('auc_champion'))}: paired DeLong difference "
            f"{signed(check.get('diff'), 4)} (se {fixed(check.get('se'), 4)}), one-sided {level} "
            f"lower bound {signed(check.get('low'), 4)}; margin {_text(check.get('margin'))}"
        )
    if kind == "vs_baseline":
        return (
            f"model {auc(check.get('auc_model'))} vs its logistic baseline "
            f"{auc(check.get('auc_baseline'))}: difference {signed(check.get('diff'), 4)} "
            f"(se {fixed(check.get('se'), 4)}), one-sided {level} upper bound "
            f"{signed(check.get('high'), 4)}; margin {_text(check.get('margin'))}"
        )
    if kind == "calibration":
        red = [_text(g) for g in _list(check.get("red_grades"))]
        raw = [_text(g) for g in _list(check.get("unadjusted_red_grades"))]
        return (
            f"{_code(check.get('sample'))} sample, {count(check.get('n'))} rows: red grades after "
            f"Bonferroni: {', '.join(red) or 'none'} (unadjusted: {', '.join(raw) or 'none'})"
        )
    if kind == "stability":
        return f"score PSI {psi(check.get('psi'))}; limit {_text(check.get('limit'))}"
    return _text(check.get("detail"))


def _gate(r: Reports) -> list[str]:
    p = "promotion.json"
    status, passed = r.get(p, "status"), r.get(p, "passed")
    verdict = _flag(passed, "passed", "failed", NA)
    lines = [
        f"Decision: **{_text(status)}** (gate {verdict}). The checks, in the order the gate "
        "runs them (`models/gate.py`):",
        "",
    ]
    rows = [
        [
            f"`{_text(_dig(c, 'check'))}`",
            _flag(_dig(c, "passed"), "pass", "FAIL"),
            _gate_evidence(c),
        ]
        for c in _list(r.get(p, "checks"))
        if isinstance(c, dict)
    ]
    lines += table("check | result | evidence", rows or [[NA, NA, NA]], "lll")
    return lines


def _monitoring(r: Reports) -> list[str]:
    mo = "monitoring.json"
    cfg = _dict(r.get(mo, "config"))
    lines = [
        f"Score PSI against the train split ({count(r.get(mo, 'reference_rows'))} rows; amber "
        f"from {_text(cfg.get('psi_amber'))}, red from {_text(cfg.get('psi_red'))}) and, once "
        "labels have matured, O/E and AUC per period (`reports/monitoring/report.html`):",
        "",
    ]
    rows = []
    for p in _list(r.get(mo, "periods")):
        if not isinstance(p, dict):
            continue
        splits = ", ".join(_text(s) for s in _list(p.get("splits"))) or NA
        rows.append(
            [
                _text(p.get("period")),
                splits,
                count(p.get("n")),
                psi(p.get("score_psi")),
                pct(p.get("mean_pd")),
                pct(p.get("observed_rate")),
                with_ci(p.get("oe_ratio"), p.get("oe_low"), p.get("oe_high"), oe),
                auc(p.get("auc")),
                _text(p.get("rag")),
            ]
        )
    lines += table(
        "period | split | rows | score PSI | mean PD | bad rate | O/E [CI] | AUC | status",
        rows or [[NA] * 9],
        "llrrrrrrl",
    )
    head = _dict(r.get(mo, "headline"))
    drifting = [
        f
        for f in _list(r.get(mo, "features"))
        if isinstance(f, dict) and f.get("rag") not in ("green", None)
    ]
    feature_words = (
        ", ".join(
            f"`{_text(f.get('feature'))}` {psi(f.get('max_psi'))} ({_text(f.get('rag'))})"
            for f in drifting
        )
        if drifting
        else "none"
    )
    lines += [
        "",
        f"Largest score PSI {psi(head.get('worst_psi'))} ({_text(head.get('worst_psi_period'))}); "
        f"largest O/E {oe(head.get('worst_oe'))} ({_text(head.get('worst_oe_period'))}); red "
        f"periods {count(head.get('red_count'))}, amber {count(head.get('amber_count'))}. Features "
        f"out of green (largest PSI over the periods): {feature_words}.",
    ]
    return lines


def _fairness(r: Reports) -> list[str]:
    views = _dict(r.data.get("fairness.json"))
    lines: list[str] = []
    for view in views.values():
        if not isinstance(view, dict):
            continue
        outcome = view.get("outcome")
        rate_key = "phone_rate" if outcome == "phone" else "contact_rate"
        lines += [
            f"By {_code(view.get('column'))} (fairlearn `MetricFrame`). O/E and AUC on the "
            f"labelled rows ({_text(view.get('labelled_rows'))}); the adverse impact ratio (AIR) "
            f"compares each group's {_code(outcome)} contact rate with the least-contacted "
            "group's:",
            "",
        ]
        rows = [
            [
                _text(g.get("group")),
                count(g.get("n")),
                pct(g.get("mean_pd")),
                with_ci(g.get("oe_ratio"), g.get("oe_low"), g.get("oe_high"), oe),
                auc(g.get("auc")),
                pct(g.get(rate_key), 2),
                fixed(g.get("air"), 3),
                fixed(g.get("air_equal_risk"), 3),
            ]
            for g in _list(view.get("groups"))
            if isinstance(g, dict)
        ]
        lines += table(
            f"group | accounts | mean PD | O/E [CI] | AUC | {_text(outcome)} rate | AIR | AIR at equal grade",
            rows or [[NA] * 8],
        )
        lines += [
            "",
            f"Lowest AIR {_against_line(view.get('adverse_impact_ratio'), FOUR_FIFTHS)} raw and "
            f"{_against_line(view.get('adverse_impact_ratio_equal_risk'), FOUR_FIFTHS)} at equal "
            "grade (the four-fifths rule). The report's flags:",
            "",
        ]
        flags = [_text(_dig(f, "message")) for f in _list(view.get("flags"))]
        lines += [f"- {f}" for f in flags] or ["- none"]
        lines.append("")
    if not lines:
        return [f"{NA}: `reports/fairness.json` holds no protected attribute."]
    return lines[:-1]


_EXPLAINED = {
    "test_sample": "from a test sample",
    "overdue": "overdue in the current book",
    "pd_at_least_min": "not overdue with a PD at the policy's contact minimum or above",
    "drilldown": "for the drill-down",
}


def _explanations(r: Reports) -> list[str]:
    e = "explain.json"
    by_reason = _dict(r.get(e, "explained_by_reason"))
    parts = (
        ", ".join(f"{count(n)} {_EXPLAINED.get(k, _label(k))}" for k, n in by_reason.items()) or NA
    )
    top = [f"`{_text(x)}`" for x in _list(r.get(e, "top_features"))]
    first = [f"`{_text(x)}`" for x in _list(r.get(e, "top_reason_1"))]
    reasons = _dict(r.get(e, "reasons"))
    families = [_text(x) for x in _dict(reasons.get("families")).values()]
    never = [f"`{_text(x)}`" for x in _list(reasons.get("never_reasons"))]
    two = reasons.get("accounts_with_two_reasons_from_one_family")
    return [
        f"TreeSHAP on {count(r.get(e, 'rows'))} rows ({parts}) of {count(r.get(e, 'features'))} "
        f"features; {count(r.get(e, 'accounts_with_reasons'))} accounts got reasons "
        f"({count(r.get(e, 'reason_rows'))} reason rows). Checks: SHAP values add up to the raw "
        f"score within {tiny(r.get(e, 'additivity_max_abs_err'))} (float32 output: "
        f"{tiny(r.get(e, 'additivity_max_abs_err_float32'))}); against LightGBM's own "
        f"`pred_contrib` on {count(r.get(e, 'check_rows'))} rows: {tiny(r.get(e, 'check_max_abs_diff'))}.",
        "",
        f"- Top global drivers by mean |SHAP| (on {count(r.get(e, 'global_views_rows'))} "
        f"{_text(r.get(e, 'global_views_split'))} rows): {', '.join(top) or NA}.",
        f"- Most frequent first reasons: {', '.join(first) or NA}.",
        f"- Reasons are worded per family ({', '.join(families) or NA}), one per family, against "
        f"the training accounts' average (base PD {pct(_dig(reasons, 'compared_with', 'base_pd'), 2)}); "
        f"in the score but never a reason (the lender set them, or the customer cannot act on "
        f"them): {', '.join(never) or NA}.",
        f"- Accounts with two reasons from one family: {count(two)}.",
    ]


def _backtest_rate(tiers: Mapping[str, Any], name: str) -> str:
    """A tier's back-test bad rate; a tier the back-test left empty says so instead of n/a."""
    if _num(_dig(tiers, name, "bad_rate")) is None and _num(_dig(tiers, name, "accounts")) == 0:
        return "no accounts"
    return pct(_dig(tiers, name, "bad_rate"))


def _tiers(r: Reports) -> list[str]:
    t = "tiers.json"
    policy = _dict(r.get(t, "policy"))
    mode = _text(r.get(t, "mode"))
    lines = [
        f"Policy {_code(policy.get('name'))} version {_code(policy.get('version'))}, "
        f"{count(r.get(t, 'accounts'))} accounts of the {_code(r.get(t, 'population'))} population, "
        f"tiers by {_code(r.get(t, 'mode'))}; the expected-value (EV) tiers beside them; bad rates "
        f"from the back-test on the labelled {_code(r.get(t, 'backtest', 'split'))} split. The "
        "policy in words: `reports/policy_summary.md`.",
        "",
    ]
    chosen = _dict(r.get(t, "tiers"))
    ev = _dict(r.get(t, "ev_tiers"))
    bt_rules = _dict(r.get(t, "backtest", "rules_tiers"))
    bt_ev = _dict(r.get(t, "backtest", "ev_tiers"))
    rows = [
        [
            _text(name),
            _text(_dig(tier, "name")),
            count(_dig(tier, "accounts")),
            pct(_dig(tier, "share"), 2),
            pct(_dig(tier, "mean_pd")),
            count(_dig(ev, name, "accounts")),
            _backtest_rate(bt_rules, name),
            _backtest_rate(bt_ev, name),
        ]
        for name, tier in chosen.items()
    ]
    lines += table(
        f"tier | name | accounts ({mode}) | share | mean PD | accounts (EV) | back-test bad rate, rules | back-test bad rate, EV",
        rows or [[NA] * 8],
        "llrrrrrr",
    )

    def rises(key: str) -> str:
        flag = r.get(t, "backtest", key)
        return _flag(flag, "rises", "does not rise", "n/a: not reported")

    floors = _dict(r.get(t, "floors"))
    lines += [
        "",
        f"Rules and EV tiers agree on {pct(r.get(t, 'rules_vs_ev', 'agree_share'))} of accounts. "
        f"On the back-test the bad rate {rises('bad_rate_rises_with_rules_tier')} with the rules "
        f"tier and {rises('bad_rate_rises_with_ev_tier')} with the EV tier (circular as evidence "
        "of the policy's value, since tiers come from PD and days past due; the experiment below "
        f"measures that). Calls below the {_text(floors.get('call_floor'))} call floor: "
        f"{count(floors.get('calls_below_call_floor'))}; accounts below a tier's amount floor: "
        f"{count(floors.get('below_tier_floor_total'))}.",
    ]
    guards = _dict(r.get(t, "guardrails_applied"))
    if guards:
        lines += ["", "Guardrails applied in the current book (accounts):", ""]
        lines += table(
            "guardrail | accounts", [[f"`{_text(k)}`", count(n)] for k, n in guards.items()]
        )
    return lines


_ARM_NAMES = {
    "champion": "champion rules",
    "challenger": "expected-value challenger",
    "holdout": "holdout (soft reminder only)",
}


def _experiment(r: Reports) -> list[str]:
    t = "tiers.json"
    exp = _dict(r.get(t, "experiment"))
    cfg = _dict(exp.get("config"))
    hold, chal = _num(cfg.get("holdout_share")), _num(cfg.get("challenger_share"))
    champ = 1 - hold - chal if hold is not None and chal is not None else None
    arms = _dict(r.get(t, "arms"))
    lines = [
        f"Past-due accounts of the current book ({count(exp.get('n'))}; "
        f"{count(exp.get('excluded_current'))} current accounts are not in the experiment) are "
        f"assigned by a hash of their id (seed {_text(cfg.get('seed'))}) to the champion rules "
        f"({share(champ)}), the expected-value challenger ({share(chal)}) or a holdout that gets "
        f"only tier T{_text(cfg.get('holdout_tier'))} ({share(hold)}). One month of outcomes is "
        "drawn from the generator's response model, so each arm's true expectation is known. "
        f"Arm intervals: {share(exp.get('level'))}. Amounts in the book's currency.",
        "",
    ]
    rows = [
        [
            _ARM_NAMES.get(name, _text(name)),
            count(_dig(a, "n")),
            f"{pct(_dig(a, 'cure_rate'))} {interval_pair(_dig(a, 'cure_rate_interval'), pct)}",
            f"{pct(_dig(a, 'roll_rate'))} {interval_pair(_dig(a, 'roll_rate_interval'), pct)}",
            fixed(_dig(a, "recovered_per_account"), 2),
            fixed(_dig(a, "contact_cost_per_account"), 2),
            fixed(_dig(a, "net_per_account"), 2),
            fixed(_dig(a, "expected", "net_per_account"), 2),
        ]
        for name, a in arms.items()
    ]
    lines += table(
        "arm | accounts | cure rate [CI] | roll rate [CI] | recovered / account | contact cost / account | net / account | true expected net / account",
        rows or [[NA] * 8],
    )
    metric_fmt: dict[str, Callable[[Any], str]] = {
        "cure_rate": points,
        "roll_rate": points,
        "net_per_account": lambda x: signed(x, 2),
    }
    rows, covered, total = [], 0, 0
    for name, a in arms.items():
        for metric, u in _dict(_dig(a, "uplift")).items():
            fmt = metric_fmt.get(metric, lambda x: signed(x, 4))
            covers = _dig(u, "covers_true")
            total += 1
            covered += covers is True
            rows.append(
                [
                    _ARM_NAMES.get(name, _text(name)),
                    _label(metric),
                    f"{fmt(_dig(u, 'estimate'))} {interval_pair(_dig(u, 'interval'), fmt)}",
                    fmt(_dig(u, "true")),
                    _flag(covers, "yes", "**no**", NA),
                ]
            )
    lines += [
        "",
        f"Uplift over the holdout, measured and true. Intervals: {_text(exp.get('uplift_intervals'))}.",
        "",
    ]
    lines += table(
        "strategy | metric | measured uplift [CI] | true uplift | interval covers the truth",
        rows or [[NA] * 5],
        "llrrl",
    )
    if total:
        lines += ["", f"{covered} of {total} uplift intervals cover the true uplift in this run."]
    lines += [
        "",
        "Their joint coverage over many assignment seeds is checked by "
        "`tests/collection_policy/simulated/test_experiment.py::test_measured_uplift_covers_the_true_uplift_at_the_nominal_rate`.",
    ]
    return lines


def _ev_rates(r: Reports) -> list[str]:
    ev = _dict(r.get("tiers.json", "ev_rates"))
    uplift, truth = _dict(ev.get("uplift")), _dict(ev.get("true_uplift"))
    per_tier = ", ".join(
        f"{_text(k)} {count(n)}" for k, n in _dict(ev.get("rows_per_tier")).items()
    )
    lines = [
        f"Stage `collection_rates` (`collection_policy/rate_learning.py`) learns the expected-value "
        f"rates from an outcome history: {_text(ev.get('source'))}; {count(ev.get('rows'))} rows "
        f"(per tier: {per_tier or NA}). Uplift = the share of non-curing arrears a tier cures "
        f"beyond tier T{_text(ev.get('baseline_tier'))}, per days-past-due bucket, compared within "
        "the logging policy's randomisation strata and non-decreasing in the tier; the true value "
        "is the generator's. The `tiers` stage reads the rates file "
        "(`data/collection/ev_rates.json`) and `register` bundles it into the served model, so "
        "batch and served tiers use the same rates; a tier whose value after commission falls "
        "below a gentler tier's is not offered. On the built-in book the history comes from the "
        "test split, so the back-test's bad rate per EV tier is in-sample for the rates (the "
        "experiment runs on the current book).",
        "",
    ]
    rows, unseen = [], []
    for bucket, tiers in uplift.items():
        learned = {k: v for k, v in _dict(tiers).items() if _num(v) is not None}
        if not learned:
            unseen.append(_text(bucket))
            continue
        for tier, value in learned.items():
            if tier == f"T{_text(ev.get('baseline_tier'))}":
                continue  # the minimum treatment: zero uplift by definition
            rows.append(
                [_text(bucket), _text(tier), fixed(value, 3), fixed(_dig(truth, bucket, tier), 3)]
            )
    lines += table(
        "days past due | tier | learned uplift | true uplift", rows or [[NA] * 4], "llrr"
    )
    if unseen:
        lines += [
            "",
            f"Buckets the history never saw ({', '.join(unseen)}) keep the policy's assumed rates.",
        ]
    base = [
        [
            _text(k.split("|")[0]),
            _text(k.split("|")[1]) if "|" in k else NA,
            fixed(_dig(c, "p"), 3),
            count(_dig(c, "baseline_rows")),
        ]
        for k, c in _dict(ev.get("no_cure_at_baseline")).items()
        if _num(_dig(c, "p")) is not None
    ]
    if base:
        lines += ["", "Chance the arrears do not cure under the minimum treatment (learned):", ""]
        lines += table(
            "days past due | PD band | P(no cure) | rows at the minimum treatment",
            base,
            "llrr",
        )
    if isinstance(ev.get("model"), str):
        lines += ["", f"Model: `{_text(ev.get('model'))}`."]
    return lines


def _deciles(r: Reports) -> list[str]:
    rows = [
        [
            count(_dig(d, "decile")),
            count(_dig(d, "n")),
            f"{pct(_dig(d, 'min_pd'), 2)} – {pct(_dig(d, 'max_pd'), 2)}",
            pct(_dig(d, "mean_pd"), 2),
            pct(_dig(d, "bad_rate"), 2),
            fixed(_dig(d, "lift"), 2),
            pct(_dig(d, "cum_bad_capture")),
        ]
        for d in _list(r.data.get("deciles.json"))
        if isinstance(d, dict)
    ]
    lines = ["Out-of-time test rows by PD decile (1 = riskiest):", ""]
    return lines + table(
        "decile | rows | PD range | mean PD | bad rate | lift | cumulative share of bads",
        rows or [[NA] * 7],
    )


SECTIONS: tuple[Section, ...] = (
    Section("Data", ("ingest.json", "data_quality.json"), _data),
    Section("Samples", ("validation.json",), _samples),
    Section(
        "Discrimination on the out-of-time test",
        ("metrics.json", "validation.json"),
        _discrimination,
    ),
    Section(
        "Where the model ranks well and where it does not",
        ("metrics.json", "validation.json"),
        _segments,
    ),
    Section("Ranking by decile", ("deciles.json",), _deciles),
    Section("Calibration", ("validation.json",), _calibration),
    Section("Promotion gate", ("promotion.json",), _gate),
    Section("Monitoring", ("monitoring.json",), _monitoring),
    Section("Fairness", ("fairness.json",), _fairness),
    Section("Explanations", ("explain.json",), _explanations),
    Section("Collection tiers of the current book", ("tiers.json",), _tiers),
    Section("What the policy does: the collection experiment", ("tiers.json",), _experiment),
    Section("Learned expected-value rates", ("tiers.json",), _ev_rates),
)

HEADER = [
    "# Results of the last run",
    "",
    "<!-- Generated by docs/make_results.py from reports/*.json: do not edit by hand. -->",
    "Every number on this page is read from the reports under `reports/` by "
    "`python docs/make_results.py`; `tests/docs/test_results.py` fails when this page and the "
    "reports disagree, so regenerate it after `make repro`. The detailed reports open offline: "
    "`reports/validation/report.html` (model card, discrimination, calibration, the gate), "
    "`reports/monitoring/report.html`, `reports/explain/report.html` (written by the run, not "
    f"committed). {NA} = the report lacks the value.",
]


def render_results(reports: Mapping[str, Any]) -> str:
    """The Markdown page for parsed reports keyed by file name (as `read_reports` returns)."""
    r = Reports(reports)
    lines = list(HEADER)
    for section in SECTIONS:
        lines += ["", f"## {section.title}", ""]
        missing = [name for name in section.needs if name not in reports]
        if missing:
            names = ", ".join(f"`reports/{name}`" for name in missing)
            verb = "is" if len(missing) == 1 else "are"
            lines.append(f"_Not rendered: {names} {verb} missing (run `make repro`)._")
        else:
            lines += section.body(r)
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=Path, default=REPO / "reports", help="reports directory")
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs" / "results.md", help="page to write"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if --out differs from the reports",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.reports.is_dir():
        logger.error("error: reports directory not found: %s", args.reports)
        return 2
    try:
        page = render_results(read_reports(args.reports))
    except ReportReadError as err:
        logger.error("error: %s", err)
        return 2
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current != page:
            logger.error(
                "%s is not the page of %s: run python docs/make_results.py", args.out, args.reports
            )
            return 1
        logger.info("%s matches %s", args.out, args.reports)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, encoding="utf-8")
    logger.info("wrote %s from %s", args.out, args.reports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
