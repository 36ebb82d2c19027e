"""Plots and the self-contained HTML report of the explanations, plus a loader for reviewers.

Every plot function returns a matplotlib Figure (so a notebook shows it inline) and never touches
global backend state; `save_png` writes and closes it. The HTML embeds each image as base64 and
carries its own CSS: it opens offline, from an e-mail attachment or an MLflow artifact view, with
no script and no external URL.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.explain.treeshap import BASE_VALUE, display_matrix, grade_order

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

ID_COLUMNS = ["account_id", "observation_date", "split"]


# --------------------------------------------------------------------------------------- figures
def save_png(fig: Figure, path: str | Path | None = None, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes (and to `path` when given), then close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return data


def _new_figure(width: float, height: float) -> Figure:
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width, height))


def plot_importance(importance: pd.DataFrame, top_n: int = 20) -> Figure:
    """Horizontal bar chart of mean |SHAP| (log-odds), largest on top."""
    top = importance.head(top_n).iloc[::-1]
    fig = _new_figure(8, 0.32 * len(top) + 1.4)
    ax = fig.gca()
    ax.barh(top["feature"], top["mean_abs_shap"], color="#1f77b4")
    ax.set_xlabel("mean |SHAP| (log-odds of default)")
    ax.set_title(f"Global feature importance (top {len(top)})")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _sample(n: int, max_rows: int, seed: int) -> np.ndarray:
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def plot_beeswarm(
    values: np.ndarray,
    X: pd.DataFrame,
    base_value: float = 0.0,
    max_display: int = 20,
    max_rows: int = 5000,
    seed: int = 0,
) -> Figure:
    """shap's beeswarm on a row sample (colour = feature value; categories by code)."""
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap

        idx = _sample(len(X), max_rows, seed)
        exp = shap.Explanation(
            values=np.asarray(values, dtype=np.float64)[idx],
            base_values=np.full(len(idx), base_value),
            data=display_matrix(X.iloc[idx]),
            feature_names=list(X.columns),
        )
        fig = _new_figure(9, 0.4 * min(max_display, X.shape[1]) + 1.6)
        shap.plots.beeswarm(exp, max_display=max_display, show=False, plot_size=None, ax=fig.gca())
        fig = plt.gcf()
    fig.gca().set_title(f"SHAP values by account ({len(idx):,} sampled rows)")
    return fig


def plot_dependence(
    values: np.ndarray, X: pd.DataFrame, feature: str, max_rows: int = 5000, seed: int = 0
) -> Figure:
    """SHAP of one feature against its value: the shape the model learned for it."""
    j = list(X.columns).index(feature)
    idx = _sample(len(X), max_rows, seed)
    y = np.asarray(values, dtype=np.float64)[idx, j]
    col = X[feature].iloc[idx]
    fig = _new_figure(6.5, 4.2)
    ax = fig.gca()
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = list(col.cat.categories) + ["missing"]
        codes = col.cat.codes.to_numpy().copy()
        codes[codes < 0] = len(cats) - 1
        jitter = np.random.default_rng(seed).uniform(-0.25, 0.25, len(codes))
        ax.scatter(codes + jitter, y, s=6, alpha=0.4, color="#1f77b4")
        ax.set_xticks(range(len(cats)), [str(c) for c in cats], rotation=30)
    else:
        x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(x)
        ax.scatter(x[ok], y[ok], s=6, alpha=0.4, color="#1f77b4")
        if (~ok).any():
            ax.text(
                0.01,
                0.97,
                f"{int((~ok).sum()):,} missing not shown",
                transform=ax.transAxes,
                va="top",
                fontsize=8,
                color="#555",
            )
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_xlabel(feature)
    ax.set_ylabel("SHAP (log-odds)")
    ax.set_title(f"Dependence: {feature}")
    ax.grid(alpha=0.3)
    return fig


def plot_shap_by_grade(by_grade: pd.DataFrame, features: Sequence[str]) -> Figure:
    """Mean SHAP of the top features across grades (best to worst)."""
    grades = list(dict.fromkeys(by_grade["grade"]))
    fig = _new_figure(8, 4.8)
    ax = fig.gca()
    for f in features:
        sub = by_grade[by_grade["feature"] == f].set_index("grade").reindex(grades)
        ax.plot(range(len(grades)), sub["mean_shap"].to_numpy(), marker="o", label=f)
    ax.set_xticks(range(len(grades)), grades)
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_xlabel("risk grade (best to worst)")
    ax.set_ylabel("mean SHAP (log-odds)")
    ax.set_title("Mean contribution by risk grade")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return fig


def plot_reason_distribution(distribution: pd.DataFrame, top_n: int = 15) -> Figure:
    """How often each feature is an account's first reason."""
    top = distribution.head(top_n).iloc[::-1]
    fig = _new_figure(8, 0.32 * max(len(top), 1) + 1.4)
    ax = fig.gca()
    ax.barh(top["feature"], top["share"] * 100, color="#d62728")
    ax.set_xlabel("% of accounts with a reason where it is reason 1")
    ax.set_title("Reason-code distribution (rank 1)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_waterfall(
    contribs: np.ndarray,
    x_row: pd.Series,
    base_value: float,
    max_display: int = 10,
    title: str | None = None,
) -> Figure:
    """Waterfall for one account: base value -> raw score (log-odds), largest contributions first.

    Drawn with plain matplotlib floating bars (red pushes risk up, blue down); the remaining
    features are summed in one bar, so the bars always add up to the account's raw score. A tenth
    of the cost of `shap.plots.waterfall`, which matters when a report draws many of them.
    """
    values = np.asarray(contribs, dtype=np.float64)
    names = list(x_row.index)
    shown = [
        "missing" if pd.isna(v) else (v if isinstance(v, str) else _short(v))
        for v in x_row.tolist()
    ]
    order = np.argsort(-np.abs(values), kind="stable")
    keep = order[: max(1, max_display - 1)] if len(order) > max_display else order
    rest = np.setdiff1d(order, keep, assume_unique=True)
    labels = [f"{names[i]} = {shown[i]}" for i in keep]
    steps = [float(values[i]) for i in keep]
    if len(rest):
        labels.append(f"{len(rest)} other features")
        steps.append(float(values[rest].sum()))
    # bottom-up: the largest contribution at the top, like shap's plot
    labels, steps = labels[::-1], steps[::-1]
    total = float(base_value) + float(values.sum())
    # from the base value at the bottom, each bar starts where the one below it ended
    start = float(base_value) + np.concatenate([[0.0], np.cumsum(steps)[:-1]])
    fig = _new_figure(8, 0.45 * len(steps) + 1.6)
    ax = fig.add_subplot(1, 1, 1)
    colors = ["#d62728" if v > 0 else "#1f77b4" for v in steps]
    ax.barh(range(len(steps)), steps, left=start, color=colors, height=0.6)
    for y, (left, v) in enumerate(zip(start, steps, strict=True)):
        ax.text(left + v, y, f" {v:+.3f}", va="center", ha="left" if v > 0 else "right", fontsize=8)
    ax.set_yticks(range(len(steps)), labels, fontsize=8)
    ax.axvline(float(base_value), color="grey", lw=0.8, ls="--")
    ax.axvline(total, color="black", lw=0.8)
    ends = np.concatenate([start, start + np.asarray(steps)])
    pad = 0.15 * float(np.ptp(ends) or 1.0)  # bars are sticky at their starts: set limits by hand
    ax.set_xlim(float(ends.min()) - pad, float(ends.max()) + pad)
    ax.set_xlabel(f"log-odds of default: base {base_value:.3f} -> account {total:.3f}")
    if title:
        ax.set_title(title)
    return fig


def _short(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return str(int(f)) if f.is_integer() else f"{f:.3g}"


# ------------------------------------------------------------------------------------ drill-down
def select_drilldown(frame: pd.DataFrame, n_top: int = 5) -> pd.DataFrame:
    """Accounts a reviewer should see: the highest PDs and the pairs straddling grade boundaries.

    `frame` has a positional index and `pd`, `grade` columns; returns the chosen rows with a
    `case` column, each row once (first case wins).
    """
    cases: dict[int, str] = {}
    scored = frame[frame["pd"].notna()]
    for pos in scored["pd"].nlargest(n_top).index:
        cases.setdefault(int(pos), "highest PD")
    grades = grade_order(scored["grade"]) if "grade" in scored else []
    for lo, hi in zip(grades, grades[1:], strict=False):
        lower = scored[scored["grade"].astype(str) == lo]["pd"]
        upper = scored[scored["grade"].astype(str) == hi]["pd"]
        if len(lower) and len(upper):
            cases.setdefault(int(lower.idxmax()), f"grade boundary {lo}/{hi}: top of {lo}")
            cases.setdefault(int(upper.idxmin()), f"grade boundary {lo}/{hi}: bottom of {hi}")
    out = frame.loc[list(cases)].copy()
    out["case"] = [cases[int(i)] for i in out.index]
    return out


# -------------------------------------------------------------------------------------- HTML
@dataclass(frozen=True)
class Account:
    """One drill-down entry of the report."""

    facts: dict[str, Any]
    reasons: list[str]
    waterfall_png: bytes


def img_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {'a.b': scalar}; lists of scalars joined, other lists skipped."""
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, list | tuple):
        if all(not isinstance(v, Mapping | list | tuple) for v in obj) and len(obj) <= 12:
            out[prefix[:-1]] = ", ".join(map(str, obj))
    else:
        out[prefix[:-1]] = obj
    return out


def _table(rows: Mapping[str, Any]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows.items()
    )
    return f'<table class="kv">{body}</table>'


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _frame_html(df: pd.DataFrame, float_format: str = "{:.4f}") -> str:
    return df.to_html(
        index=False, escape=True, border=0, classes="grid", float_format=float_format.format
    )


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;
color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;margin:8px 0;font-size:0.9em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
table.kv th{background:#f5f5f5;font-weight:600}table.grid th{background:#f0f4f8}
img{max-width:100%;height:auto;margin:8px 0}
.account{border:1px solid #ddd;border-radius:6px;padding:12px;margin:16px 0}
.note{color:#555;font-size:0.9em}.grid2{display:flex;flex-wrap:wrap;gap:8px}
.grid2 img{max-width:48%}
"""


def build_html(
    *,
    title: str,
    summary: Mapping[str, Any],
    metrics: Mapping[str, Any] | None,
    importance: pd.DataFrame,
    images: Mapping[str, bytes],
    dependence: Mapping[str, bytes],
    distribution: pd.DataFrame,
    accounts: Sequence[Account],
    checks: Mapping[str, Any],
) -> str:
    """The self-contained reviewer report (no scripts, no external URLs)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        '<p class="note">SHAP values are in log-odds of the raw (uncalibrated) model score: '
        "a positive value pushes the account's probability of default up. Reasons are the "
        "features with the largest positive contributions; protected attributes are never "
        "reasons.</p>",
        "<h2>Model summary</h2>",
        _table(summary),
        "<h3>Checks</h3>",
        _table(checks),
    ]
    if metrics:
        flat = {k: v for k, v in flatten(metrics).items() if not isinstance(v, str) or len(v) < 80}
        parts += ["<h3>Metrics (reports/metrics.json)</h3>", _table(flat)]
    else:
        parts.append('<p class="note">No metrics file was provided.</p>')
    parts += [
        "<h2>Global importance</h2>",
        img_tag(images["importance"], "global importance"),
        _frame_html(importance.head(30)),
        "<h2>SHAP values by account</h2>",
        img_tag(images["beeswarm"], "beeswarm"),
        "<h2>Dependence of the top features</h2>",
        '<div class="grid2">',
        *[img_tag(png, f"dependence {name}") for name, png in dependence.items()],
        "</div>",
        "<h2>Contribution by risk grade</h2>",
        img_tag(images["by_grade"], "mean SHAP by grade"),
        "<h2>Reason-code distribution</h2>",
        img_tag(images["reasons"], "reason distribution"),
        _frame_html(distribution.head(30)),
        "<h2>Sample accounts</h2>",
        '<p class="note">Highest PD and the accounts either side of each grade boundary.</p>',
    ]
    for acc in accounts:
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in acc.reasons) or (
            "<li>No feature raised this account's risk above the base value.</li>"
        )
        parts += [
            '<div class="account">',
            _table(acc.facts),
            f"<ol>{reasons}</ol>",
            img_tag(acc.waterfall_png, f"waterfall {acc.facts.get('account_id', '')}"),
            "</div>",
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


# ------------------------------------------------------------------------------ reviewer loader
@dataclass(frozen=True)
class ExplainOutputs:
    """The explain stage's outputs as a reviewer (or the notebook) reads them back."""

    shap: pd.DataFrame
    reasons: pd.DataFrame
    importance: pd.DataFrame
    features: list[str]
    report_dir: Path
    features_path: Path
    catalogue_path: Path
    scores_path: Path

    @property
    def base_value(self) -> float:
        return float(self.shap[BASE_VALUE].iloc[0]) if len(self.shap) else float("nan")

    def account_rows(self, account_id: int | str) -> pd.DataFrame:
        """SHAP rows of one account (one per observation date / split)."""
        rows = self.shap[self.shap["account_id"] == account_id]
        if rows.empty:
            raise KeyError(f"account {account_id} was not explained")
        return rows

    def account_reasons(self, account_id: int | str) -> pd.DataFrame:
        r = self.reasons[self.reasons["account_id"] == account_id]
        return r.sort_values(["observation_date", "rank"]).reset_index(drop=True)

    def model_row(self, account_id: int | str) -> pd.Series:
        """The account's model inputs (latest explained row), via the catalogue."""
        from features.catalogue import Catalogue, to_model_frame
        from features.io import read_json

        row = self.account_rows(account_id).iloc[-1]
        cat = Catalogue.from_dict(read_json(self.catalogue_path))
        key = account_id if isinstance(account_id, str) else int(account_id)  # table ids are text
        df = pd.read_parquet(self.features_path, filters=[("account_id", "==", key)])
        df = df[df["split"] == row["split"]]
        if "observation_date" in df and pd.notna(row["observation_date"]):
            df = df[df["observation_date"] == row["observation_date"]]
        return to_model_frame(df, cat, source=str(self.features_path)).iloc[0]

    def waterfall(self, account_id: int | str, max_display: int = 10) -> Figure:
        row = self.account_rows(account_id).iloc[-1]
        x = self.model_row(account_id)
        return plot_waterfall(
            row[self.features].to_numpy(dtype=np.float64),
            x,
            float(row[BASE_VALUE]),
            max_display=max_display,
            title=f"Account {account_id}",
        )

    def highest_pd_account(self) -> int:
        scores = pd.read_parquet(self.scores_path, columns=["account_id", "split", "pd"])
        scores = scores[scores["account_id"].isin(self.shap["account_id"])]
        if scores.empty:
            return int(self.shap["account_id"].iloc[0])
        return int(scores.loc[scores["pd"].idxmax(), "account_id"])


def load_outputs(
    repo_dir: str | Path,
    out_dir: str = "data/explanations",
    report_dir: str = "reports/explain",
    features_dir: str = "data/features",
    scores: str = "data/scores/scores.parquet",
) -> ExplainOutputs:
    """Read the latest explain outputs under a repository (paths relative to `repo_dir`)."""
    root = Path(repo_dir)
    shap_df = pd.read_parquet(root / out_dir / "shap_values.parquet")
    reasons = pd.read_parquet(root / out_dir / "reasons.parquet")
    importance = pd.read_parquet(root / out_dir / "importance.parquet")
    features = [c for c in shap_df.columns if c not in (*ID_COLUMNS, BASE_VALUE)]
    return ExplainOutputs(
        shap=shap_df,
        reasons=reasons,
        importance=importance,
        features=features,
        report_dir=root / report_dir,
        features_path=root / features_dir / "features.parquet",
        catalogue_path=root / features_dir / "catalogue.json",
        scores_path=root / scores,
    )
