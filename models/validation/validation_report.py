"""The self-contained HTML validation report, for a validator or a credit committee.

Like the explanations report (`models.explain.explain_report`), it embeds every image as base64 and carries
its own CSS: it opens offline, with no script and no external URL. Everything it shows comes from
`ValidationResult.doc` and the scorecard's binning table, so the report and the JSON never
disagree. The model card comes first: a reader should know what the model is for before reading
how well it does it.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.io import atomic_path
from models.explain.plots import save_png
from models.html import CSS as BASE_CSS
from models.html import img_tag
from models.validation.validation_doc import ValidationResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

TITLE = "PD model validation"
REPORT_FILE = "report.html"
BINNING_FILE = "binning_table.csv"
LIGHT_COLOURS = {"red": "#d62728", "amber": "#ff9f1c", "green": "#2ca02c", "n/a": "#999999"}

_CSS = (
    BASE_CSS
    + """
td.light{font-weight:600;color:#fff;text-align:center}
td.light-red{background:#d62728}td.light-amber{background:#ff9f1c}
td.light-green{background:#2ca02c}td.light-na{background:#999}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.finding{margin:4px 0}.pass{color:#2ca02c;font-weight:600}.fail{color:#d62728;font-weight:600}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
"""
)


# -------------------------------------------------------------------------------------- format
def _fmt(v: Any, digits: int = 4) -> str:
    """Numbers for people: None -> 'n/a', small p-values in scientific notation."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if digits >= 3 and v != 0 and abs(v) < 1e-3:
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    return str(v)


def _interval(v: Any, low: Any, high: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    return f"{_fmt(v, digits)} [{_fmt(low, digits)}, {_fmt(high, digits)}]"


def _kv(rows: Mapping[str, Any]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows.items()
    )
    return f'<table class="kv">{body}</table>'


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "grid") -> str:
    """A table of already-escaped cells (`<td ...>` included, so cells can carry classes)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(v: Any, digits: int = 4, num: bool = True) -> str:
    cls = ' class="num"' if num and not isinstance(v, str) else ""
    return f"<td{cls}>{html.escape(_fmt(v, digits))}</td>"


def _light_td(light: str) -> str:
    key = "na" if light == "n/a" else light
    return f'<td class="light light-{html.escape(key)}">{html.escape(light)}</td>'


# --------------------------------------------------------------------------------------- plots
def _figure(width: float, height: float) -> Figure:
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width, height))


def plot_auc_forest(rows: Sequence[tuple[str, float, float, float]]) -> Figure:
    """AUC point and interval per sample, segment and period, first row on top."""
    fig = _figure(8, 0.36 * max(len(rows), 1) + 1.4)
    ax = fig.gca()
    if rows:
        ys = np.arange(len(rows))[::-1]
        auc = np.array([r[1] for r in rows])
        err = np.array([[r[1] - r[2] for r in rows], [r[3] - r[1] for r in rows]])
        ax.errorbar(auc, ys, xerr=err, fmt="o", color="#1f77b4", capsize=3)
        ax.set_yticks(ys, [r[0] for r in rows])
        ax.axvline(rows[0][1], color="#999", ls="--", lw=0.8)
    ax.set_xlabel("AUC (DeLong interval)")
    ax.set_title("Discrimination with intervals")
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_calibration_by_grade(samples: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """Observed default rate (exact Poisson interval) against the mean PD per grade, log scale.

    The observed interval is the O/E interval times the grade's mean PD (expected / n).
    """
    fig = _figure(9, 4.8)
    ax = fig.gca()
    grades: list[str] = []
    for rows in samples.values():
        grades += [str(r["grade"]) for r in rows if str(r["grade"]) not in grades]
    x_of = {g: i for i, g in enumerate(grades)}
    n = max(len(samples), 1)
    for k, (name, rows) in enumerate(samples.items()):
        ok = [r for r in rows if r.get("mean_pd") and r.get("oe_ratio") is not None]
        if not ok:
            continue
        x = np.array([x_of[str(r["grade"])] for r in ok]) + (k - (n - 1) / 2) * 0.18
        mean_pd = np.array([r["mean_pd"] for r in ok], dtype="float64")
        obs = np.array([r["observed_rate"] for r in ok], dtype="float64")
        low = np.array([r["oe_low"] for r in ok], dtype="float64") * mean_pd
        high = np.array([r["oe_high"] for r in ok], dtype="float64") * mean_pd
        floor = np.maximum(obs, 1e-5)
        err = np.vstack([np.clip(floor - low, 0, None), np.clip(high - floor, 0, None)])
        line = ax.errorbar(x, floor, yerr=err, fmt="o", capsize=3, label=f"{name}: observed")
        ax.plot(x, mean_pd, "_", ms=14, mew=2, color=line[0].get_color(), label=f"{name}: PD")
    ax.set_yscale("log")
    ax.set_xticks(range(len(grades)), grades)
    ax.set_xlabel("grade (best first)")
    ax.set_ylabel("default rate")
    ax.set_title("Observed default rate (95% interval) vs mean PD by grade")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    return fig


def plot_oe(rows: Sequence[tuple[str, float, float, float]]) -> Figure:
    """Observed / expected defaults with exact intervals per sample; 1 = calibrated."""
    fig = _figure(8, 0.36 * max(len(rows), 1) + 1.4)
    ax = fig.gca()
    if rows:
        ys = np.arange(len(rows))[::-1]
        oe = np.array([r[1] for r in rows])
        err = np.array([[r[1] - r[2] for r in rows], [r[3] - r[1] for r in rows]])
        ax.errorbar(oe, ys, xerr=err, fmt="s", color="#8c564b", capsize=3)
        ax.set_yticks(ys, [r[0] for r in rows])
    ax.axvline(1.0, color="#2ca02c", ls="--", lw=1)
    ax.set_xlabel("observed / expected defaults")
    ax.set_title("O/E ratio by sample (exact Poisson interval)")
    ax.grid(axis="x", alpha=0.3)
    return fig


# ------------------------------------------------------------------------------------ sections
def _model_card(card: Mapping[str, Any], samples: Mapping[str, Any]) -> list[str]:
    data = card["data"]
    excl = card["exclusions"]
    head = {
        "model": card["model_name"],
        "owner": card["owner"],
        "purpose": card["purpose"],
        "intended use": card["intended_use"],
        "label (default definition)": card["label_definition"],
        "features": f"{data['features']} ({data['categorical_features']} categorical)",
        "score scaling": ", ".join(f"{k} {v:g}" for k, v in card["scaling"].items()),
        "grades (best first)": ", ".join(card["grades"]),
    }
    split_rows = [
        [
            _td(s, num=False),
            _td(data["rows_by_split"][s]),
            _td(data["labelled_rows_by_split"].get(s, 0)),
            _td(data["bad_rate_by_split"].get(s)),
            _td(excl["in_default_at_snapshot"]["by_split"].get(s, 0)),
            _td(data["windows"].get(s, ""), num=False),
        ]
        for s in data["rows_by_split"]
    ]
    sample_rows = [
        [_td(name, num=False), _td(v["n"]), _td(v["window"], num=False), _td(v["used_for"])]
        for name, v in samples.items()
        if isinstance(v, Mapping)
    ]
    rejected = excl["rejected_at_ingest"]
    exclusions = [
        f"Accounts in default at the snapshot ({excl['in_default_at_snapshot']['rule']}): "
        f"{excl['in_default_at_snapshot']['total']:,} rows.",
        "Rows rejected at ingest: "
        + ("not recorded." if rejected is None else f"{int(rejected):,} rows."),
        *excl["notes"],
    ]
    return [
        '<h2 id="model-card">Model card</h2>',
        _kv(head),
        "<h3>Data by split</h3>",
        _grid(
            ["split", "rows", "labelled", "bad rate", "in default (excluded)", "window"],
            split_rows,
        ),
        "<h3>Samples every number below is measured on</h3>",
        _grid(["sample", "rows", "window", "used for"], sample_rows),
        "<h3>Exclusions</h3>",
        "<ul>" + "".join(f"<li>{html.escape(e)}</li>" for e in exclusions) + "</ul>",
        "<h3>Limitations</h3>",
        "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in card["limitations"]) + "</ul>",
    ]


def _auc_rows(doc: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    disc = doc["discrimination"]
    out: list[tuple[str, Mapping[str, Any]]] = [("test (out of time)", disc["test"])]
    out += [(f"test {m}", block) for m, block in disc["periods"].items()]
    out += [(f"test {name}", block) for name, block in (disc["segments"] or {}).items()]
    out.append(("holdout", disc["holdout"]))
    scorecard = doc["scorecard"]
    if "test" in scorecard:
        out.append(("scorecard, test", scorecard["test"]))
    return out


def _discrimination(doc: Mapping[str, Any], forest_png: bytes) -> list[str]:
    t = doc["discrimination"]["test"]
    rows = [
        [
            _td(name, num=False),
            _td(b["n"]),
            _td(b["defaults"]),
            _td(b["bad_rate"]),
            _td(_interval(b["auc"], b["auc_low"], b["auc_high"]), num=False),
            _td(_interval(b["gini"], b["gini_low"], b["gini_high"]), num=False),
        ]
        for name, b in _auc_rows(doc)
    ]
    level = doc["config"]["level"]
    return [
        '<h2 id="discrimination">Discrimination</h2>',
        f'<p class="note">AUC and Gini with {level:.0%} DeLong intervals; KS with a stratified '
        f"bootstrap interval ({doc['config']['ks_bootstrap']} resamples). Segments cut the "
        "test rows by days past due at the snapshot; a segment with one class has no AUC.</p>",
        _kv({"test KS": _interval(t["ks"], t["ks_low"], t["ks_high"])}),
        _grid(
            ["sample", "rows", "defaults", "bad rate", "AUC [interval]", "Gini [interval]"], rows
        ),
        img_tag(forest_png, "AUC intervals"),
    ]


_GRADE_HEADER = [
    "grade",
    "rows",
    "defaults",
    "expected",
    "mean PD",
    "observed rate",
    "O/E [interval]",
    "binomial p",
    "Jeffreys p",
    "light",
]


def _grade_table(rows: Sequence[Mapping[str, Any]], model_pd: Mapping[str, float] | None) -> str:
    header = list(_GRADE_HEADER)
    if model_pd is not None:
        header.insert(5, "model mean PD")
    body = []
    for r in rows:
        cells = [
            _td(str(r["grade"]), num=False),
            _td(r["n"]),
            _td(r["defaults"]),
            _td(r["expected"], 2),
            _td(r["mean_pd"]),
            _td(r["observed_rate"]),
            _td(_interval(r["oe_ratio"], r["oe_low"], r["oe_high"], 3), num=False),
            _td(r["binomial_p"]),
            _td(r["jeffreys_p"]),
            _light_td(str(r["light"])),
        ]
        if model_pd is not None:
            cells.insert(5, _td(model_pd.get(str(r["grade"]))))
        body.append(cells)
    return _grid(header, body, cls="grid grades")


def _summary_line(s: Mapping[str, Any], hl: Mapping[str, Any]) -> str:
    return (
        f"{s['red']} red, {s['amber']} amber, {s['green']} green; O/E "
        f"{_interval(s['oe_ratio'], s['oe_low'], s['oe_high'], 3)}; Hosmer-Lemeshow p "
        f"{_fmt(hl['p'])}"
    )


def _calibration(doc: Mapping[str, Any], grade_png: bytes, oe_png: bytes) -> list[str]:
    summ, hls = doc["calibration_summary"], doc["hosmer_lemeshow_by_sample"]
    parts = [
        '<h2 id="calibration">Calibration by grade</h2>',
        f'<p class="note">One-sided tests per grade at its mean PD: a small p means more '
        f"defaults than the PD explains (PD too low). Light from the Jeffreys test: red p &lt; "
        f"{doc['config']['red']:g}, amber p &lt; {doc['config']['amber']:g}, green otherwise. "
        "O/E intervals are exact (Poisson).</p>",
        img_tag(grade_png, "observed vs expected by grade"),
        img_tag(oe_png, "O/E by sample"),
        "<h3>Out-of-time test, pooled</h3>",
        f'<p class="finding">{html.escape(_summary_line(summ["test"], hls["test"]))}</p>',
        _grade_table(doc["calibration_by_grade"], None),
    ]
    for m, rows in doc["calibration_by_period"].items():
        line = _summary_line(summ["periods"][m], hls["periods"][m])
        parts += [
            f"<h3>Test period {html.escape(m)}</h3>",
            f'<p class="finding">{html.escape(line)}</p>',
            _grade_table(rows, None),
        ]
    parts += [
        "<h3>Holdout (early-stopping customers; out of sample for the calibrator)</h3>",
        f'<p class="finding">{html.escape(_summary_line(summ["holdout"], hls["holdout"]))}</p>',
        _grade_table(doc["calibration_holdout"], None),
    ]
    oracle = doc["oracle"]
    if oracle is not None:
        model_pd = {str(r["grade"]): r["mean_pd"] for r in doc["calibration_by_grade"]}
        line = _summary_line(oracle["summary"], oracle["hosmer_lemeshow"])
        parts += [
            '<h3 id="oracle">Oracle: the true PD on the same test rows</h3>',
            f'<p class="note">{html.escape(oracle["what"])}. Green here while the model is red '
            "means the defaults are what the period's true risk predicts: the failure is the "
            "period's shift, which the model's inputs do not show.</p>",
            f'<p class="finding">{html.escape(line)}</p>',
            _grade_table(oracle["calibration_by_grade"], model_pd),
        ]
    return parts


def _hosmer_lemeshow(doc: Mapping[str, Any]) -> list[str]:
    hls = doc["hosmer_lemeshow_by_sample"]
    named = [("test", hls["test"]), ("holdout", hls["holdout"])]
    named += [("calibration (in-sample)", hls["calibration"])]
    named += [(f"test {m}", v) for m, v in hls["periods"].items()]
    if doc["oracle"] is not None:
        named.append(("oracle (true PD), test", doc["oracle"]["hosmer_lemeshow"]))
    rows = [
        [_td(n, num=False), _td(v["statistic"], 2), _td(v["df"]), _td(v["p"])] for n, v in named
    ]
    return [
        '<h2 id="hosmer-lemeshow">Hosmer–Lemeshow</h2>',
        f'<p class="note">{doc["config"]["hl_groups"]} PD-quantile groups; chi-square with '
        "groups - 2 degrees of freedom. A small p rejects the PDs as a whole.</p>",
        _grid(["sample", "statistic", "df", "p"], rows),
    ]


def _stability(doc: Mapping[str, Any]) -> list[str]:
    st = doc["stability"]
    rows = [
        [_td(name, num=False), _td(st["rows"].get(name)), _td(v), _td(st["status"][name])]
        for name, v in st["psi"].items()
    ]
    return [
        '<h2 id="stability">Stability</h2>',
        f'<p class="note">PSI of the {html.escape(st["variable"])} against the '
        f"{html.escape(st['reference'])} rows ({st['reference_n']:,}), ten reference-quantile "
        f"bins; below {st['thresholds']['watch']:g} stable, above "
        f"{st['thresholds']['shift']:g} a shift.</p>",
        _grid(["compared sample", "rows", "PSI", "status"], rows),
    ]


def _binning_html(binning: pd.DataFrame, order: Sequence[str]) -> str:
    """The binning table, variables by IV (highest first), one block of rows per variable."""
    if binning.empty:
        return '<p class="note">No binning table (the scorecard was not fitted).</p>'
    rank = {v: i for i, v in enumerate(order)}
    frame = binning.assign(_rank=binning["variable"].map(rank).fillna(len(rank)))
    frame = frame.sort_values(["_rank"], kind="stable")
    columns = ("variable", "bin", "count", "count_share", "event_rate", "woe", "iv", "points")
    rows = [
        [
            _td(str(var), num=False),
            _td(str(bin_), num=False),
            _td(int(count)),
            *(_td(float(x)) for x in (share, rate, woe, iv)),
            _td(float(points), 1),
        ]
        for var, bin_, count, share, rate, woe, iv, points in zip(
            *(frame[c].to_numpy() for c in columns), strict=True
        )
    ]
    return _grid(
        ["variable", "bin", "count", "share", "event rate", "WoE", "IV", "points"],
        rows,
        cls="grid binning",
    )


def _scorecard(doc: Mapping[str, Any], binning: pd.DataFrame) -> list[str]:
    sc, vs = doc["scorecard"], doc["vs_scorecard"]
    parts = ['<h2 id="scorecard">Scorecard benchmark</h2>']
    if vs is None:
        parts.append(
            f'<p class="note">The scorecard was not fitted: {html.escape(str(sc.get("error")))}</p>'
        )
        return parts
    t = sc["test"]
    parts += [
        '<p class="note">A WoE logistic scorecard (optimal binning, monotone where the '
        "catalogue knows the risk direction) fitted on the train split and scored on the test "
        "split; the paired DeLong test uses the same test rows for both models.</p>",
        _kv(
            {
                "model AUC (test)": vs["auc_gbm"],
                "scorecard AUC (test)": _interval(t["auc"], t["auc_low"], t["auc_high"]),
                "difference model - scorecard": _interval(vs["diff"], vs["low"], vs["high"]),
                "paired DeLong p (two-sided)": vs["p"],
                "variables selected": f"{sc['variables_selected']} of {sc['variables_offered']}",
                "fitted on": f"{sc['fit_rows']:,} of {sc['train_rows']:,} train rows",
            }
        ),
    ]
    iv_rows = [
        [_td(r["variable"], num=False), _td(r["iv"]), _td("yes" if r["selected"] else "no")]
        for r in sc["iv"][:15]
    ]
    order = [r["variable"] for r in sc["iv"]]
    parts += [
        "<h3>Top variables by information value</h3>",
        _grid(["variable", "IV", "selected"], iv_rows),
        f"<h3>Binning table (also in {BINNING_FILE})</h3>",
        _binning_html(binning, order),
    ]
    return parts


def _gate(gate: Mapping[str, Any] | None) -> list[str]:
    parts = ['<h2 id="gate">Promotion gate</h2>']
    if gate is None:
        parts.append('<p class="note">No promotion decision was provided.</p>')
        return parts
    promote = bool(gate.get("promote"))
    verdict = "PROMOTE" if promote else "DO NOT PROMOTE"
    parts.append(f'<p class="{"pass" if promote else "fail"}">Decision: {html.escape(verdict)}</p>')
    items = []
    for reason in gate.get("reasons", []):
        text = str(reason)
        cls = "pass" if text.startswith("PASS") else "fail" if text.startswith("FAIL") else ""
        items.append(f'<li class="{cls}">{html.escape(text)}</li>')
    parts.append("<ul>" + "".join(items) + "</ul>")
    facts = {
        k: v for k, v in gate.items() if k not in ("promote", "reasons") and not isinstance(v, dict)
    }
    if facts:
        parts.append(_kv(facts))
    return parts


# -------------------------------------------------------------------------------------- render
def build_html(doc: Mapping[str, Any], binning: pd.DataFrame, images: Mapping[str, bytes]) -> str:
    """The report page: model card, findings, then each section (no scripts, no external URLs)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(TITLE)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(TITLE)}</h1>",
        *_model_card(doc["model_card"], doc["samples"]),
        '<h2 id="findings">Findings</h2>',
        "<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in doc["findings"]) + "</ul>",
        *_discrimination(doc, images["auc_forest"]),
        *_calibration(doc, images["calibration_by_grade"], images["oe_by_sample"]),
        *_hosmer_lemeshow(doc),
        *_stability(doc),
        *_scorecard(doc, binning),
        *_gate(doc["gate"]),
        "</body></html>",
    ]
    return "\n".join(parts)


def _oe_rows(doc: Mapping[str, Any]) -> list[tuple[str, float, float, float]]:
    summ = doc["calibration_summary"]
    named = [("test", summ["test"])] + [(f"test {m}", s) for m, s in summ["periods"].items()]
    if doc["oracle"] is not None:
        named.append(("oracle, test", doc["oracle"]["summary"]))
        named += [(f"oracle {m}", v["summary"]) for m, v in doc["oracle"]["periods"].items()]
    named += [("holdout", summ["holdout"]), ("calibration", summ["calibration"])]
    return [
        (n, s["oe_ratio"], s["oe_low"], s["oe_high"]) for n, s in named if s["oe_ratio"] is not None
    ]


def render_report(result: ValidationResult, out_dir: Path) -> Path:
    """Write report.html, its PNGs and binning_table.csv into `out_dir`; returns the page's path.

    Every file is written through a temp file and renamed, so a failure keeps the last report.
    """
    doc = result.doc
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    forest = [
        (name, b["auc"], b["auc_low"], b["auc_high"])
        for name, b in _auc_rows(doc)
        if b["auc"] is not None and b["auc_low"] is not None
    ]
    samples = {"test": doc["calibration_by_grade"], "holdout": doc["calibration_holdout"]}
    if doc["oracle"] is not None:
        samples["oracle"] = doc["oracle"]["calibration_by_grade"]
    figures = {
        "auc_forest": plot_auc_forest(forest),
        "calibration_by_grade": plot_calibration_by_grade(samples),
        "oe_by_sample": plot_oe(_oe_rows(doc)),
    }
    images = {}
    for name, fig in figures.items():
        images[name] = save_png(fig)
        with atomic_path(out_dir / f"{name}.png") as tmp:
            tmp.write_bytes(images[name])
    with atomic_path(out_dir / BINNING_FILE) as tmp:
        result.binning_table.to_csv(tmp, index=False)
    page = out_dir / REPORT_FILE
    with atomic_path(page) as tmp:
        tmp.write_text(build_html(doc, result.binning_table, images), encoding="utf-8")
    log.info("validation report written to %s", page)
    return page
