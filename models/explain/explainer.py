"""Explain a scored book: `explain_book` joins features to scores, picks the rows worth explaining,
computes exact TreeSHAP values with their checks, words the reasons and builds the global views.

It returns an `ExplainResult` holding the output tables in their contracts' shapes
(`core.contracts.SHAP_VALUES`, `REASONS`), the summary document, the drill-down accounts'
facts for the report, and the step timings (for the log only, never written to a tracked
report). `models.explain.from_files.explain_files` reads the inputs, calls this and renders the report.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.catalogue import to_model_frame
from core.contracts import DPD_FEATURE_COLUMN, REASONS, SHAP_VALUES
from core.errors import DataValidationError
from models.explain.inputs import ExplainInputs
from models.explain.reason_dictionary import ReasonDictionary, reference_note
from models.explain.reasons import (
    FamilyLayout,
    family_layout,
    reason_codes,
    reason_distribution,
)
from models.explain.selection import book_split, choose_rows
from models.explain.treeshap import (
    ShapResult,
    additivity_error,
    check_against_shap,
    global_importance,
    shap_by_grade,
    shap_values,
)

log = logging.getLogger(__name__)

ID_COLUMNS = ["account_id", "observation_date", "split"]


@dataclass(frozen=True)
class ExplainConfig:
    """The explain stage's settings (params.yaml `explain`, plus the seed and the policy's
    contact line `actionable_min_pd`, derived from the collection policy)."""

    top_k: int
    sample_check_rows: int
    check_tolerance: float
    raw_score_tolerance: float
    batch_rows: int
    reasons: Path
    dependence_features: int
    plot_rows: int
    report_top_pd: int
    population: str
    actionable_min_pd: float | None  # None: read from the collection policy by run_explain
    test_sample_rows: int | None
    seed: int


@dataclass(frozen=True)
class DrilldownAccount:
    """One account the report shows in full: its facts, reason sentences and row position."""

    position: int  # into ExplainResult.model_frame / shap.values
    facts: dict[str, Any]
    reasons: list[str]


@dataclass(frozen=True)
class ExplainResult:
    """Everything one explain run produces; the stage writes it, the report renders it."""

    shap_values: pd.DataFrame  # SHAP_VALUES contract
    reasons: pd.DataFrame  # REASONS contract
    importance: pd.DataFrame
    shap_by_grade: pd.DataFrame
    reason_distribution: pd.DataFrame
    summary: dict[str, Any]  # reports/explain.json (no timings)
    timings: dict[str, float]  # seconds per step: for the log only
    model_frame: pd.DataFrame  # model inputs of the explained rows
    shap: ShapResult
    global_rows: np.ndarray  # positions the global views were computed on
    drilldown: tuple[DrilldownAccount, ...]
    trees: int

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Output file name -> table, for data/explanations/."""
        return {
            SHAP_VALUES.file: self.shap_values,
            REASONS.file: self.reasons,
            "importance.parquet": self.importance,
            "shap_by_grade.parquet": self.shap_by_grade,
            "reason_distribution.parquet": self.reason_distribution,
        }

    @property
    def headline(self) -> dict[str, Any]:
        """The numbers a reviewer compares across runs (reports/headline/explain.json)."""
        s = self.summary
        return {
            "rows_explained": s["rows"],
            "accounts_with_reasons": s["accounts_with_reasons"],
            "check_max_abs_diff": s["check_max_abs_diff"],
            "additivity_max_abs_err": s["additivity_max_abs_err"],
            "raw_score_max_abs_diff": s["raw_score_max_abs_diff"],
        }


class _Clock:
    """Seconds per named step."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._since = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._since, 3)
        self._since = now


def join_scores(features: pd.DataFrame, scores: pd.DataFrame, source: str) -> pd.DataFrame:
    """Each feature row's score (same account, date and split), aligned by position."""
    dup = scores.duplicated(ID_COLUMNS)
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataValidationError(
            source, "duplicate (account_id, observation_date, split)", row=row
        )
    merged = features[ID_COLUMNS].merge(scores, on=ID_COLUMNS, how="left", validate="one_to_one")
    unscored = merged["pd"].isna()
    if unscored.any():
        row = int(np.flatnonzero(unscored.to_numpy())[0])
        raise DataValidationError(
            source,
            f"{int(unscored.sum())} explained row(s) have no score (first: account "
            f"{merged['account_id'].iloc[row]})",
            column="pd",
            hint="Scores and features are from different runs: re-run the train stage.",
        )
    return merged


def check_raw_scores(raw: np.ndarray, scored: pd.DataFrame, tol: float, source: str) -> float:
    """Our raw scores must equal the train stage's: same model, same inputs, same rows. The
    SCORES contract requires raw_score, so this check always runs."""
    theirs = scored["raw_score"].to_numpy(dtype=np.float64)
    diff = np.abs(raw - theirs)
    worst = float(np.nanmax(diff, initial=0.0))
    if not worst <= tol:
        row = int(np.nanargmax(diff))
        raise DataValidationError(
            source,
            f"raw_score differs from the model's prediction by {worst:.3g} (> {tol:g})",
            column="raw_score",
            row=row,
            hint="The model, features and scores are not from the same run.",
        )
    return worst


def explain_book(
    inputs: ExplainInputs, config: ExplainConfig, progress: bool | None = None
) -> ExplainResult:
    """SHAP values, reasons and global views of the rows worth explaining (see module doc)."""
    clock = _Clock()
    df, catalogue = inputs.features, inputs.catalogue
    scored = join_scores(df, inputs.scores, inputs.scores_source)
    clock.lap("join_scores")

    sel, pick = choose_rows(
        df["split"],
        scored,
        population=config.population,
        actionable_min_pd=config.actionable_min_pd,
        test_sample_rows=config.test_sample_rows,
        report_top_pd=config.report_top_pd,
        seed=config.seed,
        default=df.get("default"),
        days_past_due=df.get(DPD_FEATURE_COLUMN),
    )
    pos = sel.positions
    candidates = {k: int(v) for k, v in df["split"].value_counts().items()}
    df = df.iloc[pos].reset_index(drop=True)
    df = pd.concat([df, inputs.model_rows(pos)], axis=1)  # model columns of the chosen rows only
    scored = scored.iloc[pos].reset_index(drop=True)
    new_pos = pd.Series(np.arange(len(pos)), index=pos)
    pick = pick.set_axis(new_pos.loc[pick.index.to_numpy()].to_numpy())
    clock.lap("select_rows")

    X = to_model_frame(df, catalogue, source=inputs.features_source)
    rows_by_split = {k: int(v) for k, v in df["split"].value_counts().items()}
    log.info(
        "explaining %d of %d candidate rows (%s; population %s)",
        len(X),
        sum(candidates.values()),
        rows_by_split,
        config.population,
    )
    clock.lap("model_frame")

    result = shap_values(inputs.booster, X, batch_rows=config.batch_rows, progress=progress)
    clock.lap("treeshap")
    raw_diff = check_raw_scores(
        result.raw_score, scored, config.raw_score_tolerance, inputs.scores_source
    )
    check_diff = check_against_shap(
        inputs.booster,
        X,
        result.values,
        result.base_value,
        n_rows=config.sample_check_rows,
        tol=config.check_tolerance,
        seed=config.seed,
    )
    stored_additivity = additivity_error(result.values, result.base_value, result.raw_score)
    clock.lap("checks")

    layout = family_layout(list(X.columns), catalogue, inputs.dictionary)
    reasons = reason_codes(
        result.values, X, catalogue, inputs.dictionary, top_k=config.top_k, layout=layout
    )
    ids = (
        df[["account_id", "observation_date"]]
        .iloc[reasons["row"].to_numpy()]
        .reset_index(drop=True)
    )
    # the REASONS contract has no family column: `feature` is the family's strongest feature
    reasons_out = pd.concat([ids, reasons.drop(columns=["row", "family"])], axis=1)
    clock.lap("reason_codes")

    # global views on the representative test sample (the current book's explained rows are the
    # actionable tail, not the book); reason distribution over the accounts actually owed reasons
    split = df["split"].to_numpy()
    book = book_split(split)
    has_test = bool((split == "test").any())
    glob = np.flatnonzero(split == "test") if has_test else np.arange(len(df))
    glob_values = result.values[glob]
    importance = global_importance(glob_values, result.feature_names)
    by_grade = shap_by_grade(
        glob_values, result.feature_names, scored["grade"].iloc[glob].reset_index(drop=True)
    )
    distribution = reason_distribution(
        reasons[reasons["row"].isin(np.flatnonzero(split == book))], rank=1
    )
    shap_out = pd.concat([df[ID_COLUMNS], result.frame(index=df.index)], axis=1)
    clock.lap("global_views")

    summary: dict[str, Any] = {
        "rows": int(len(X)),
        "rows_by_split": rows_by_split,
        "candidate_rows_by_split": candidates,
        "population": sel.counts,
        "explained_by_reason": {k: int(v) for k, v in pd.Series(sel.why).value_counts().items()},
        "global_views_rows": int(len(glob)),
        "global_views_split": "test" if has_test else book,
        "features": int(X.shape[1]),
        "base_value": result.base_value,
        "check_rows": int(min(config.sample_check_rows, len(X))),
        "check_max_abs_diff": check_diff,
        "additivity_max_abs_err": result.additivity_max_abs_err,
        "additivity_max_abs_err_float32": stored_additivity,
        "raw_score_max_abs_diff": raw_diff,
        "accounts_with_reasons": int(reasons["row"].nunique()),
        "reason_rows": int(len(reasons)),
        "top_features": importance["feature"].head(config.dependence_features).tolist(),
        "top_reason_1": distribution["feature"].head(5).tolist(),
        "reasons": reason_summary(
            reasons, list(X.columns), layout, inputs.dictionary, result.base_value
        ),
    }
    return ExplainResult(
        shap_values=SHAP_VALUES.check(shap_out, SHAP_VALUES.file),
        reasons=REASONS.check(reasons_out, REASONS.file),
        importance=importance,
        shap_by_grade=by_grade,
        reason_distribution=distribution,
        summary=summary,
        timings=clock.timings,
        model_frame=X,
        shap=result,
        global_rows=glob,
        drilldown=drilldown_accounts(pick, reasons),
        trees=int(inputs.booster.num_trees()),
    )


def reason_summary(
    reasons: pd.DataFrame,
    columns: list[str],
    layout: FamilyLayout,
    dictionary: ReasonDictionary,
    base_value: float,
) -> dict[str, Any]:
    """What a reason is compared with, how reasons are grouped and what is never a reason."""
    base_pd = float(1.0 / (1.0 + np.exp(-base_value)))
    labels = {name: fam.label for name, fam in dictionary.families.items()}
    never = [f for f, code in zip(columns, layout.codes, strict=True) if code < 0]
    per_account = reasons.groupby("row")["family"]
    return {
        "compared_with": {
            "population": "the model's training data (the TreeSHAP base value is the average "
            "raw score over it)",
            "base_value_log_odds": float(base_value),
            "base_pd": base_pd,
            "text": reference_note(dictionary, base_value),
        },
        "grouping": "one reason per family: contributions summed within a family, worded from "
        "its strongest feature",
        "families": {n: labels.get(n, n) for n in layout.names},
        "never_reasons": never,
        "accounts_with_two_reasons_from_one_family": int(
            (per_account.nunique() < per_account.size()).sum()
        ),
    }


def drilldown_accounts(pick: pd.DataFrame, reasons: pd.DataFrame) -> tuple[DrilldownAccount, ...]:
    """The report's facts and reason sentences for each drill-down account (index = position)."""
    by_row = {int(r): g for r, g in reasons[reasons["row"].isin(pick.index)].groupby("row")}
    accounts = []
    for pos, row in pick.iterrows():
        facts = {
            "case": row["case"],
            "account_id": row["account_id"],  # int on the built-in book, text for a table
            "observation_date": _date(row["observation_date"]),
            "split": row["split"],
            "PD": f"{row['pd']:.4f}",
            "score": row["score"],
            "grade": row["grade"],
        }
        rs = by_row.get(int(pos))
        texts = (
            []
            if rs is None
            else [
                f"{t} (value {v}, +{c:.3f} log-odds)"
                for t, v, c in zip(rs["text"], rs["value"], rs["contribution"], strict=True)
            ]
        )
        accounts.append(DrilldownAccount(position=int(pos), facts=facts, reasons=texts))
    return tuple(accounts)


def _date(v: Any) -> str:
    return "n/a" if pd.isna(v) else str(pd.Timestamp(v).date())
