"""The offline monitoring dashboard: one HTML file with its plots embedded as base64 PNG.

Built from `MonitorResult.to_dict()` (or the same dict read back from the stage's JSON), so a
dashboard can be redrawn from a stored run without the data. Figures are drawn on
`matplotlib.figure.Figure` objects, never pyplot, so the global backend is untouched and the PNGs
come from Agg whatever the environment's display; the HTML carries its own CSS and no script or
external URL, like the explanations report (`models.explain.explain_report`).
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.html import CSS, img_tag

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TITLE = "PD model monitoring"
RAG_COLOURS = {"green": "#2ca02c", "amber": "#ff9f1c", "red": "#d62728", None: "#999999"}

# the house style (models.html) plus this page's header cells and RAG rows
_CSS = (
    CSS
    + """
th{background:#f0f4f8}
.green{background:#e6f4e6}.amber{background:#fff1dc}.red{background:#fde2e2}
"""
)


# --------------------------------------------------------------------------------------- figures
def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a figure (Agg canvas; pyplot never holds the figure)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _num(v: Any) -> float:
    return float(v) if v is not None and math.isfinite(float(v)) else float("nan")


def plot_psi(
    periods: Sequence[Mapping[str, Any]],
    features: Sequence[Mapping[str, Any]],
    amber: float,
    red: float,
    top_n: int = 5,
) -> Figure:
    """Score PSI per period (bars coloured by light) and the most drifting features' CSI."""
    names = [p["period"] for p in periods]
    x = np.arange(len(names))
    fig = _figure(9, 4.5)
    ax = fig.add_subplot()
    ax.bar(
        x,
        [_num(p["score_psi"]) for p in periods],
        color=[RAG_COLOURS.get(p.get("psi_rag"), "#999") for p in periods],
        label="score PSI",
    )
    for f in list(features)[:top_n]:
        ax.plot(
            x,
            [_num(f["psi_by_period"].get(n)) for n in names],
            marker="o",
            lw=1,
            label=f"CSI {f['feature']}",
        )
    ax.axhline(amber, color=RAG_COLOURS["amber"], ls="--", lw=1)
    ax.axhline(red, color=RAG_COLOURS["red"], ls="--", lw=1)
    ax.set_xticks(x, names, rotation=30)
    ax.set_ylabel("PSI against the development sample")
    ax.set_title("Population stability by observation month")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_oe(periods: Sequence[Mapping[str, Any]]) -> Figure:
    """Observed/expected defaults per labelled period with its interval; 1 = calibrated."""
    rows = [p for p in periods if p.get("oe_ratio") is not None]
    fig = _figure(9, 4.2)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    ratio = np.array([_num(p["oe_ratio"]) for p in rows])
    low = np.array([_num(p["oe_low"]) for p in rows])
    high = np.array([_num(p["oe_high"]) for p in rows])
    for i, p in enumerate(rows):
        ax.errorbar(
            x[i],
            ratio[i],
            yerr=[[ratio[i] - low[i]], [high[i] - ratio[i]]],
            fmt="o",
            capsize=4,
            color=RAG_COLOURS.get(p.get("oe_rag"), "#999"),
        )
    ax.axhline(1.0, color="#555", lw=1)
    ax.set_xticks(x, [p["period"] for p in rows], rotation=30)
    ax.set_ylabel("observed / expected defaults")
    ax.set_title("Calibration by observation month (labelled rows)")
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_vintage(vintage: Sequence[Mapping[str, Any]]) -> Figure:
    """Cumulative ever-90+ rate by months on book, one line per opening cohort."""
    fig = _figure(9, 4.8)
    ax = fig.add_subplot()
    from matplotlib import colormaps

    colours = colormaps["viridis"](np.linspace(0.0, 0.9, max(len(vintage), 1)))
    for v, colour in zip(vintage, colours, strict=False):
        curve = np.array([_num(c) for c in v["cum_default_rate"]])
        ax.plot(
            np.arange(curve.size),
            curve,
            lw=1.2,
            color=colour,
            label=f"{v['cohort']} ({v['accounts']:,})",
        )
    ax.set_xlabel("months on book")
    ax.set_ylabel("cumulative share ever 90+ DPD")
    ax.set_title("Vintage curves by opening cohort")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return fig


def plot_roll_rates(rolls: Mapping[str, Any]) -> Figure:
    """Heat map of month-to-month transition shares between DPD buckets."""
    buckets = list(rolls["buckets"])
    rates = np.array(
        [
            [_num(v) for v in row] if row is not None else [np.nan] * len(buckets)
            for row in rolls["rates"]
        ]
    )
    fig = _figure(6.5, 5.2)
    ax = fig.add_subplot()
    im = ax.imshow(rates, cmap="Reds", vmin=0.0, vmax=1.0)
    for i in range(len(buckets)):
        for j in range(len(buckets)):
            if np.isfinite(rates[i, j]):
                ax.text(
                    j,
                    i,
                    f"{rates[i, j]:.1%}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if rates[i, j] > 0.6 else "black",
                )
    ax.set_xticks(range(len(buckets)), buckets)
    ax.set_yticks(range(len(buckets)), buckets)
    ax.set_xlabel("next month")
    ax.set_ylabel("this month")
    ax.set_title(f"Roll rates {rolls.get('from_month')} to {rolls.get('to_month')}")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return fig


def plot_contact(view: Mapping[str, Any], column: str) -> Figure:
    """Contact and phone-contact rate per group, raw and grade-adjusted."""
    groups = view["groups"]
    x = np.arange(len(groups))
    fig = _figure(8, 4.2)
    ax = fig.add_subplot()
    w = 0.27
    for k, (key, label) in enumerate(
        (("contact_rate", "contacted"), ("phone_rate", "phoned"), ("adjusted_rate", "adjusted"))
    ):
        ax.bar(x + (k - 1) * w, [_num(g.get(key)) for g in groups], width=w, label=label)
    ax.set_xticks(x, [g["group"] for g in groups])
    ax.set_ylabel("share of tiered accounts")
    ax.set_title(f"Collection contact by {column}")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


# ------------------------------------------------------------------------------------------ HTML
def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple):
        return ", ".join(map(str, v))
    return str(v)


def _table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], rag: str | None = None
) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cls = f' class="{html.escape(str(r.get(rag)))}"' if rag and r.get(rag) else ""
        cells = "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def dashboard_images(report: Mapping[str, Any]) -> dict[str, bytes]:
    """PNG per plot the data allows, keyed by file name (the report embeds each once)."""
    mon = report["monitoring"]
    cfg = mon.get("config", {})
    images = {
        "psi.png": to_png(
            plot_psi(
                mon["periods"], mon["features"], cfg.get("psi_amber", 0.1), cfg.get("psi_red", 0.25)
            )
        )
    }
    if any(p.get("oe_ratio") is not None for p in mon["periods"]):
        images["oe.png"] = to_png(plot_oe(mon["periods"]))
    if report.get("vintage"):
        images["vintage.png"] = to_png(plot_vintage(report["vintage"]))
    if report.get("roll_rates") and report["roll_rates"].get("transitions"):
        images["roll_rates.png"] = to_png(plot_roll_rates(report["roll_rates"]))
    for name, view in report.get("fairness", {}).items():
        if any(g.get("contact_rate") is not None for g in view["groups"]):
            images[f"contact_{name}.png"] = to_png(plot_contact(view, name))
    return images


PERIOD_COLUMNS = [
    "period", "splits", "n", "score_psi", "psi_rag", "top_features", "mean_pd", "observed_rate",
    "oe_ratio", "oe_low", "oe_high", "jeffreys_p", "auc", "auc_low", "auc_high", "rag",
]  # fmt: skip
GROUP_COLUMNS = [
    "group", "n", "mean_pd", "n_labelled", "observed_rate", "oe_ratio", "oe_low", "oe_high",
    "auc", "n_tiered", "contact_rate", "phone_rate", "adjusted_rate", "air", "air_equal_risk",
]  # fmt: skip


def build_html(report: Mapping[str, Any], images: Mapping[str, bytes], title: str = TITLE) -> str:
    """The self-contained dashboard (no scripts, no external URLs), each image embedded once."""
    mon = report["monitoring"]
    head = mon["headline"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _table([head], list(head)),
        "<h2>Stability</h2>",
        '<p class="note">PSI of each observation month against the development sample (train '
        "split), bins from its deciles. Green below the amber threshold, red at or above the red "
        "one.</p>",
        img_tag(images["psi.png"], "PSI by period"),
        "<h2>Periods</h2>",
        '<p class="note">Observed rate, O/E and AUC use labelled rows only; the current book has '
        "none yet. A period turns amber when its O/E interval excludes 1, red when the Jeffreys "
        "test also rejects the PD as too low.</p>",
        _table(mon["periods"], PERIOD_COLUMNS, rag="rag"),
    ]
    if "oe.png" in images:
        parts.append(img_tag(images["oe.png"], "observed over expected by period"))
    features = [
        {**f, **{"psi " + k: v for k, v in f["psi_by_period"].items()}} for f in mon["features"]
    ]
    periods = [p["period"] for p in mon["periods"]]
    parts += [
        "<h2>Feature drift (CSI)</h2>",
        _table(features, ["feature", "max_psi", "rag"] + [f"psi {p}" for p in periods], rag="rag"),
    ]
    if mon.get("grades"):
        grades = [g for g in mon["grades"] if g.get("period") == "all"]
        parts += [
            "<h2>Calibration by grade (all labelled rows)</h2>",
            _table(
                grades,
                [
                    "grade",
                    "n",
                    "defaults",
                    "expected",
                    "mean_pd",
                    "observed_rate",
                    "oe_ratio",
                    "oe_low",
                    "oe_high",
                    "jeffreys_p",
                    "light",
                ],
                rag="light",
            ),
        ]
    if "vintage.png" in images:
        parts += ["<h2>Vintage curves</h2>", img_tag(images["vintage.png"], "vintage curves")]
    if "roll_rates.png" in images:
        parts += ["<h2>Roll rates</h2>", img_tag(images["roll_rates.png"], "roll rates")]
    for name, view in report.get("fairness", {}).items():
        parts += [
            f"<h2>Fairness: {html.escape(name)}</h2>",
            '<p class="note">Being contacted is the adverse outcome: AIR = the least-contacted '
            f"group's {html.escape(str(view.get('outcome')))} rate over the group's own. "
            "The adjusted rate removes differences in grade mix (equal risk).</p>",
            _table(
                [
                    {
                        "adverse_impact_ratio": view.get("adverse_impact_ratio"),
                        "adverse_impact_ratio_equal_risk": view.get(
                            "adverse_impact_ratio_equal_risk"
                        ),
                    }
                ],
                ["adverse_impact_ratio", "adverse_impact_ratio_equal_risk"],
            ),
            _table(view["groups"], GROUP_COLUMNS),
        ]
        if f"contact_{name}.png" in images:
            parts.append(img_tag(images[f"contact_{name}.png"], f"contact by {name}"))
        if view.get("by_grade"):
            parts += [
                "<h3>Contact at equal risk (by grade)</h3>",
                _table(
                    view["by_grade"], ["grade", "group", "n", "contact_rate", "phone_rate", "air"]
                ),
            ]
        flags = "".join(f"<li>{html.escape(f['message'])}</li>" for f in view.get("flags", []))
        parts.append(f"<ul>{flags}</ul>" if flags else '<p class="note">No flags.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def render_dashboard(report: Mapping[str, Any], title: str = TITLE) -> dict[str, bytes]:
    """The dashboard's files: the PNGs and report.html (which embeds them)."""
    images = dashboard_images(report)
    return {**images, "report.html": build_html(report, images, title).encode("utf-8")}


def periods_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """The period rows as a frame (for notebooks)."""
    return pd.DataFrame(report["monitoring"]["periods"])
