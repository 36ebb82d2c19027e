"""Exact SHAP explanations of the LightGBM PD model, in log-odds of the raw (uncalibrated) score.

LightGBM's native TreeSHAP (`predict(pred_contrib=True)`) is the engine: it is exact for the
model's own categorical splits and missing-value routing, needs no background data, and runs in
C++ with the booster's threads. Explanations are the most expensive stage (about 100x a plain
predict), so rows go through in batches with a progress bar and a bounded memory footprint.

Two guards make the numbers trustworthy before anyone reads a reason code:
- additivity: every batch's contributions + base value must reproduce `predict(raw_score=True)`;
- an independent path: `shap.TreeExplainer` on a sample must agree within a tolerance.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.catalogue import model_matrix
from core.errors import PipelineError
from models.scaling import sorted_grades

if TYPE_CHECKING:
    import lightgbm as lgb

log = logging.getLogger(__name__)

BASE_VALUE = "base_value"


class ExplanationError(PipelineError):
    """SHAP values failed a correctness check (additivity or agreement with shap)."""


@dataclass(frozen=True)
class ShapResult:
    """SHAP values of n rows: `values` float32 (n, features), one base value, the raw scores."""

    values: np.ndarray
    base_value: float
    raw_score: np.ndarray
    feature_names: list[str]
    additivity_max_abs_err: float

    def frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        """The values as a float32 frame (one column per feature) plus `base_value`."""
        out = pd.DataFrame(self.values, columns=self.feature_names, index=index)
        out[BASE_VALUE] = np.float64(self.base_value)
        return out


def load_booster(path: str) -> lgb.Booster:
    """Load the LightGBM text model; a missing or unreadable file is a plain error."""
    import lightgbm as lgb

    try:
        return lgb.Booster(model_file=str(path))
    except (lgb.basic.LightGBMError, FileNotFoundError) as exc:
        raise PipelineError(f"cannot load LightGBM model '{path}': {exc}") from None


def check_model_columns(booster: lgb.Booster, columns: list[str], source: str) -> None:
    """The booster must have been trained on exactly the catalogue's columns, in order."""
    from core.errors import DataValidationError

    names = list(booster.feature_name())
    if names != list(columns):
        extra = [c for c in names if c not in columns]
        missing = [c for c in columns if c not in names]
        raise DataValidationError(
            source,
            "model features differ from the catalogue's model columns "
            f"(model-only {extra[:5]}, catalogue-only {missing[:5]}, or a different order)",
            hint="Re-run the train stage on the current features.",
        )


def shap_values(
    booster: lgb.Booster,
    X: pd.DataFrame,
    batch_rows: int = 20_000,
    additivity_tol: float = 1e-6,
    progress: bool | None = None,
) -> ShapResult:
    """Native TreeSHAP of `X` (a `to_model_frame` output) in batches.

    Each batch is checked for additivity in float64 before the values are stored as float32
    (float32 halves memory; its rounding, about 1e-7 relative, is far below any reading of a
    reason). Raises ExplanationError when a batch breaks additivity by more than `additivity_tol`.
    """
    from tqdm.auto import tqdm

    if batch_rows < 1:
        raise ValueError("batch_rows must be >= 1")
    n, p = X.shape
    values = np.empty((n, p), dtype=np.float32)
    raw = np.empty(n, dtype=np.float64)
    base: float | None = None
    worst = 0.0
    with tqdm(total=n, desc="TreeSHAP", unit="row", disable=progress is False) as bar:
        for start in range(0, n, batch_rows):
            chunk = X.iloc[start : start + batch_rows]
            matrix = model_matrix(chunk)  # one conversion for both predictions
            score = np.asarray(booster.predict(matrix, raw_score=True), dtype=np.float64)
            contrib, err = _checked_contributions(booster, matrix, score, additivity_tol, start)
            worst = max(worst, err)
            if base is None and len(chunk):
                base = float(contrib[0, p])
            values[start : start + len(chunk)] = contrib[:, :p]
            raw[start : start + len(chunk)] = score
            bar.update(len(chunk))
    if base is None:
        base = expected_value(booster, X)
    log.info("TreeSHAP: %d rows x %d features, max additivity error %.2e", n, p, worst)
    return ShapResult(values, base, raw, list(X.columns), worst)


def matrix_shap_values(
    booster: lgb.Booster,
    matrix: np.ndarray,
    raw_score: np.ndarray,
    feature_names: list[str],
    additivity_tol: float = 1e-6,
    num_threads: int | None = None,
) -> ShapResult:
    """`shap_values` of a few rows given as their model matrix and raw scores, in one call.

    The served model's path for a small request: it already holds the matrix (`model_matrix` or
    `core.catalogue.direct_model_matrix`) and the raw scores, so TreeSHAP is one `pred_contrib`
    call with the same checks and storage as `shap_values` (float64 contributions, additivity
    against `raw_score`, float32 values). `num_threads=1` for a handful of rows: on a busy machine
    OpenMP threads cost more than the trees (one row: ~16 ms threaded, ~0.45 ms on one thread).
    No batching: the whole contribution matrix is held at once.
    """
    n, p = matrix.shape
    raw = np.asarray(raw_score, dtype=np.float64)
    if n == 0:  # as `shap_values` of no rows (LightGBM refuses to predict none)
        return ShapResult(np.empty((0, p), np.float32), float("nan"), raw, list(feature_names), 0.0)
    contrib, err = _checked_contributions(booster, matrix, raw, additivity_tol, 0, num_threads)
    return ShapResult(
        contrib[:, :p].astype(np.float32), float(contrib[0, p]), raw, list(feature_names), err
    )


def _checked_contributions(
    booster: lgb.Booster,
    matrix: np.ndarray,
    raw_score: np.ndarray,
    additivity_tol: float,
    first_row: int,
    num_threads: int | None = None,
) -> tuple[np.ndarray, float]:
    """`pred_contrib` of a model matrix in float64, its shape and additivity checked against
    `raw_score` (ExplanationError naming the rows, counted from `first_row`); returns the
    contributions (n, features + 1) and the largest additivity error."""
    n, p = matrix.shape
    threads = {} if num_threads is None else {"num_threads": num_threads}
    contrib = np.asarray(booster.predict(matrix, pred_contrib=True, **threads), dtype=np.float64)
    if contrib.shape != (n, p + 1):
        raise ExplanationError(
            f"pred_contrib returned shape {contrib.shape}, expected {(n, p + 1)}: "
            "only single-output (binary) models are supported"
        )
    err = float(np.max(np.abs(contrib.sum(axis=1) - raw_score), initial=0.0))
    if not err <= additivity_tol:
        raise ExplanationError(
            f"additivity broken in rows {first_row}..{first_row + n - 1}: contributions "
            f"+ base value differ from the raw score by {err:.3g} (> {additivity_tol:g})"
        )
    return contrib, err


def expected_value(booster: lgb.Booster, X: pd.DataFrame) -> float:
    """The base value (mean raw score over the training data) from the model itself."""
    one = X.iloc[:1] if len(X) else X
    if len(one) == 0:
        return float("nan")
    return float(np.asarray(booster.predict(one, pred_contrib=True))[0, -1])


def check_against_shap(
    booster: lgb.Booster,
    X: pd.DataFrame,
    values: np.ndarray,
    base_value: float,
    n_rows: int = 200,
    tol: float = 1e-6,
    seed: int = 0,
) -> float:
    """Compare our values on a random sample with `shap.TreeExplainer`; return the max abs diff.

    Guards the pipeline's own handling (frame conversion, iteration limit, column order, float32
    storage) against the reference library. Raises ExplanationError above `tol`. `values` may be
    the stored float32 values: they are compared at float32 resolution of their magnitude.
    """
    if len(X) == 0 or n_rows <= 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # import noise and a misleading "list of ndarray" note
        import shap

        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(X), size=min(n_rows, len(X)), replace=False))
        explainer = shap.TreeExplainer(booster)
        ref = np.asarray(explainer.shap_values(X.iloc[idx]), dtype=np.float64)
        ref_base = float(np.ravel(explainer.expected_value)[0])
    ours = np.asarray(values, dtype=np.float64)[idx]
    if ref.shape != ours.shape:
        raise ExplanationError(f"shap returned shape {ref.shape}, ours is {ours.shape}")
    # float32 storage rounds each value to ~6e-8 relative; allow exactly that on top of tol.
    slack = np.abs(ref) * (np.finfo(np.float32).eps if values.dtype == np.float32 else 0.0)
    diff = np.abs(ours - ref)
    excess = float(np.max(diff - slack, initial=0.0))
    worst = float(np.max(diff, initial=0.0))
    base_diff = abs(ref_base - base_value)
    if not (excess <= tol and base_diff <= tol):
        r, c = np.unravel_index(int(np.argmax(diff - slack)), diff.shape)
        raise ExplanationError(
            f"native TreeSHAP disagrees with shap.TreeExplainer: max diff {worst:.3g} at sample "
            f"row {int(idx[r])}, feature '{X.columns[c]}'; base value diff {base_diff:.3g} "
            f"(tolerance {tol:g})"
        )
    log.info("shap.TreeExplainer check on %d rows: max abs diff %.2e", len(idx), worst)
    return worst


def additivity_error(values: np.ndarray, base_value: float, raw_score: np.ndarray) -> float:
    """Max |sum(values) + base - raw score| over rows, summed in float64."""
    total = np.asarray(values, dtype=np.float64).sum(axis=1) + base_value
    return float(np.max(np.abs(total - np.asarray(raw_score, dtype=np.float64)), initial=0.0))


def global_importance(values: np.ndarray, feature_names: list[str]) -> pd.DataFrame:
    """Mean |SHAP| per feature (the global ranking), with mean SHAP and share of the total."""
    v = np.asarray(values, dtype=np.float64)
    mean_abs = np.abs(v).mean(axis=0) if len(v) else np.zeros(len(feature_names))
    mean = v.mean(axis=0) if len(v) else np.zeros(len(feature_names))
    total = mean_abs.sum()
    out = pd.DataFrame(
        {
            "feature": feature_names,
            "mean_abs_shap": mean_abs,
            "mean_shap": mean,
            "share": mean_abs / total if total > 0 else np.zeros(len(feature_names)),
        }
    )
    out = out.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def grade_order(grades: pd.Series) -> list[str]:
    """Grades best-first: categorical order when present, else `models.scaling.sorted_grades`."""
    if isinstance(grades.dtype, pd.CategoricalDtype):
        return [str(g) for g in grades.cat.categories if (grades == g).any()]
    return sorted_grades(grades.dropna().unique())


def shap_by_grade(values: np.ndarray, feature_names: list[str], grades: pd.Series) -> pd.DataFrame:
    """Mean SHAP per feature within each risk grade (long: grade, feature, mean_shap, ...).

    Shows what moves accounts between grades: in a sound model the delinquency features' mean
    contribution should climb from the best grade to the worst.
    """
    g = pd.Series(np.asarray(grades.astype("object")), dtype="object").astype(str)
    g[pd.isna(np.asarray(grades.astype("object")))] = "missing"
    v = pd.DataFrame(np.asarray(values, dtype=np.float64), columns=feature_names)
    key = pd.Series(g.to_numpy(), name="risk_grade")  # a key apart from the features: a table may
    mean = v.groupby(key, sort=False).mean()  # have its own feature called "grade"
    mean_abs = v.abs().groupby(key, sort=False).mean()
    count = v.groupby(key, sort=False).size()
    order = [x for x in grade_order(grades) if x in mean.index] + (
        ["missing"] if "missing" in mean.index else []
    )
    rows = []
    for grade in order:
        for f in feature_names:
            rows.append((grade, f, mean.at[grade, f], mean_abs.at[grade, f], int(count[grade])))
    return pd.DataFrame(rows, columns=["grade", "feature", "mean_shap", "mean_abs_shap", "n"])


def display_matrix(X: pd.DataFrame) -> np.ndarray:
    """Numeric view of a model frame for plot colouring: categories become their codes."""
    cols = []
    for c in X.columns:
        s = X[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            cols.append(codes)
        else:
            cols.append(pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64))
    return np.column_stack(cols) if cols else np.empty((len(X), 0))
