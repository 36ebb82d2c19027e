"""Plots of the explanations: global importance, beeswarm, dependence, by grade, waterfalls.

Every plot function returns a matplotlib Figure (so a notebook shows it inline) and never touches
global backend state; `save_png` renders and closes it.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.explain.treeshap import display_matrix

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
        # shap jitters the swarm with numpy's global generator: seed it for this call only, so
        # the same explanations draw the same picture (the report is a tracked output)
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            shap.plots.beeswarm(
                exp, max_display=max_display, show=False, plot_size=None, ax=fig.gca()
            )
        finally:
            np.random.set_state(state)
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
