"""Training the PD model on a feature table: the train stage's one library call.

`train_pd` fits the calibrated LightGBM PD model and the logistic baseline, scores every row and
measures the model (test, validation, baseline, against the true PD when the book has one). It
returns a `TrainResult` holding everything the stage writes; it touches no file and no registry
(the register stage bundles, logs and gates the model).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, read_catalogue, read_feature_dir
from core.contracts import (
    BLOCK_ROWS,
    DPD_FEATURE_COLUMN,
    FEATURES,
    LABELLED_SPLITS,
    POLICY_INPUT_BY_NAME,
    POLICY_INPUTS,
    SAMPLES,
    SCORES,
    check_samples,
)
from core.dpd import DEFAULT_DPD, in_default
from core.errors import DataValidationError
from models.baseline import LogisticBaseline
from models.metrics import (
    auc,
    brier,
    curve_bundle,
    decile_table,
    optional_auc,
    period_metrics,
    psi,
    segment_metrics,
    summary,
)
from models.pd_estimator import FitReport, PDEstimator
from models.pd_model import PDModel
from models.train_config import TrainConfig

log = logging.getLogger(__name__)


#: The headline numbers of a training run (reports/headline/train.json), from the metrics document.
HEADLINE_TEST = ("auc", "gini", "ks", "brier", "ece")


def read_features(
    features_dir: Path, splits: tuple[str, ...] | None = None, columns: list[str] | None = None
) -> tuple[pd.DataFrame, Catalogue]:
    """The feature table (FEATURES contract) and its catalogue, with every labelled split usable.

    Each labelled split must have rows and a label on every row: a split without rows or with a
    missing label would silently train, stop or test on less than the table claims. `splits`
    reads only those splits' rows (a Parquet filter: the register stage needs two of four),
    `columns` only those columns (None: all).
    """
    table, catalogue = read_feature_dir(features_dir, columns=columns, splits=splits)
    source = str(features_dir / FEATURES.file)
    for split in LABELLED_SPLITS if splits is None else [s for s in splits if s in LABELLED_SPLITS]:
        in_split = table["split"].eq(split)
        if not in_split.any():
            raise DataValidationError(source, f"split '{split}' has no rows", column="split")
        unlabelled = in_split & table["default"].isna()
        if unlabelled.any():
            row = int(np.flatnonzero(unlabelled.to_numpy())[0])
            raise DataValidationError(
                source, f"split '{split}' has a missing label", "default", row
            )
    return table, catalogue


def training_columns(features_dir: Path, catalogue: Catalogue) -> list[str]:
    """The feature-table columns training reads: keys, label, split, model inputs, policy inputs.

    Protected columns and the text policy inputs stay on disk; the required policy inputs are
    read to be checked, days past due also to keep defaulted accounts out of the labelled rows.
    """
    present = FEATURES.read_schema(features_dir / FEATURES.file, stage="features")
    keys = [catalogue.id_column, "observation_date", "default", "split"]
    return [*keys, *catalogue.model_columns, *required_policy_columns(present)]


def read_labelled_splits(
    features_dir: Path, catalogue: Catalogue, block_rows: int | None = None
) -> dict[str, pd.DataFrame]:
    """The train, validation and test rows of the feature table, read block by block.

    Only the labelled rows are kept (the current book is scored later from the file, `book_blocks`),
    each frame indexed by its rows' positions in the table. The checks of `read_features` apply:
    every labelled split has rows and labels, and every required policy input is present on every
    row of the table (counted over all blocks, the current book included) before training starts.
    """
    path = features_dir / FEATURES.file
    source = str(path)
    columns = training_columns(features_dir, catalogue)
    policy = required_policy_columns(columns)
    keep = [c for c in columns if c not in policy or c == DPD_FEATURE_COLUMN]
    pieces: dict[str, list[pd.DataFrame]] = {s: [] for s in LABELLED_SPLITS}
    missing: dict[str, int] = {}
    n_rows = 0
    for block in FEATURES.read_blocks(path, columns, "features", block_rows or BLOCK_ROWS):
        n_rows += len(block)
        for name, n in missing_policy_inputs(block).items():
            missing[name] = missing.get(name, 0) + n
        split_of = block["split"].to_numpy()
        for split in LABELLED_SPLITS:
            rows = block.loc[split_of == split, keep]
            if len(rows):
                pieces[split].append(rows)
    raise_missing_policy_inputs(missing, n_rows, source)
    parts: dict[str, pd.DataFrame] = {}
    for split in LABELLED_SPLITS:
        if not pieces[split]:
            raise DataValidationError(source, f"split '{split}' has no rows", column="split")
        parts[split] = (
            pd.concat(pieces.pop(split)) if len(pieces[split]) > 1 else pieces.pop(split)[0]
        )
        unlabelled = parts[split]["default"].isna().to_numpy()
        if unlabelled.any():
            row = int(parts[split].index[np.flatnonzero(unlabelled)[0]])
            raise DataValidationError(
                source, f"split '{split}' has a missing label", "default", row
            )
    log.info("%s: %s labelled rows of %d", source, {s: len(f) for s, f in parts.items()}, n_rows)
    return parts


def book_blocks(
    features_dir: Path, catalogue: Catalogue, block_rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """The current book's rows (split "score") of the feature table, block by block, each indexed
    by its rows' positions in the table: what `train_on_splits` scores after training."""
    path = features_dir / FEATURES.file
    present = FEATURES.read_schema(path, stage="features")
    columns = [
        catalogue.id_column,
        "observation_date",
        "default",
        "split",
        *catalogue.model_columns,
    ]
    if DPD_FEATURE_COLUMN in present:
        columns.append(DPD_FEATURE_COLUMN)
    for block in FEATURES.read_blocks(path, columns, "features", block_rows or BLOCK_ROWS):
        rows = block[block["split"].to_numpy() == "score"]
        if len(rows):
            yield rows


def missing_policy_inputs(table: pd.DataFrame) -> dict[str, int]:
    """Missing values per required policy input (`POLICY_INPUTS`) present in `table`."""
    missing: dict[str, int] = {}
    for spec in POLICY_INPUTS:
        column = spec.feature_column
        if spec.required and column in table.columns:
            n = int(table[column].isna().sum())
            if n:
                missing[spec.name] = n
    return missing


def required_policy_columns(columns: list[str]) -> list[str]:
    """The required policy-input columns among `columns` (what `missing_policy_inputs` counts)."""
    present = set(columns)
    return [s.feature_column for s in POLICY_INPUTS if s.required and s.feature_column in present]


def raise_missing_policy_inputs(missing: dict[str, int], n_rows: int, source: str) -> None:
    """Stop when a required policy input is missing anywhere (`missing`: counts per input).

    The registered model answers tier requests, whose signature requires every flag; the features
    stage leaves a flag missing when a loan table has arrears columns but not that flag (flags are
    never guessed for accounts in arrears). Training on such a table would only fail later, at
    register, after the model and the reports were replaced: stop here and say what to add.
    """
    if not missing:
        return
    first = next(iter(missing))
    raise DataValidationError(
        source,
        f"required policy input(s) {sorted(missing)} missing on {max(missing.values())} of "
        f"{n_rows} rows (counts {missing}): the loan table has arrears columns "
        "(days_past_due / overdue_amount) but not these compliance flags, and flags are never "
        "guessed for accounts in arrears",
        column=POLICY_INPUT_BY_NAME[first].feature_column,
        hint="Add the column(s) to the loan table (same names; False where the flag does not "
        "apply) and rerun; nothing was trained or overwritten.",
    )


def truth_metrics(
    test: pd.DataFrame, test_pd: np.ndarray, truth: pd.DataFrame | None, id_column: str
) -> dict[str, Any]:
    """Oracle AUC/Brier (the true PD as a model) and the mean |PD - true PD| on the test split."""
    if truth is None:
        return {}
    keys = [id_column, "observation_date"]
    left = test[keys].reset_index(drop=True).assign(_pd=test_pd, _y=test["default"].to_numpy())
    merged = left.merge(truth[[*keys, "true_pd"]], on=keys, how="left")
    have = merged["true_pd"].notna()
    if not have.any():
        log.warning("no test row matched the true PD table; oracle metrics skipped")
        return {}
    if not have.all():
        log.warning("%d test rows lack a true PD; oracle metrics use the rest", int((~have).sum()))
    matched = merged[have]
    outcome = matched["_y"].astype("float64").to_numpy()
    true_pd = matched["true_pd"].to_numpy(dtype="float64")
    return {
        "oracle_test": {"auc": auc(outcome, true_pd), "brier": brier(outcome, true_pd)},
        "pd_vs_true_mae": float(np.mean(np.abs(matched["_pd"].to_numpy() - true_pd))),
    }


def true_pd_of_rows(
    test: pd.DataFrame, truth: pd.DataFrame | None, id_column: str
) -> np.ndarray | None:
    """The true PD of each test row in row order (NaN where the truth lacks it); None without truth."""
    if truth is None:
        return None
    keys = [id_column, "observation_date"]
    merged = test[keys].reset_index(drop=True).merge(truth[[*keys, "true_pd"]], on=keys, how="left")
    return merged["true_pd"].to_numpy(dtype="float64")


def evaluation_metrics(
    test: pd.DataFrame,
    test_pd: np.ndarray,
    train_ids: pd.Series,
    true_pd: np.ndarray | None,
    id_column: str,
) -> dict[str, Any]:
    """What the test numbers mean: by delinquency segment, by out-of-time period, unseen accounts.

    "segments" needs the days-past-due policy input (a loan table without it has none); periods
    need observation dates. "customer_disjoint_test" keeps test accounts never seen in train: the
    built-in book has one account per customer, so account id stands for the customer.
    """
    y = test["default"].astype("float64").to_numpy()
    doc: dict[str, Any] = {}
    dpd_column = DPD_FEATURE_COLUMN
    if dpd_column in test.columns:
        dpd = test[dpd_column].astype("float64").to_numpy()
        doc["segments"] = segment_metrics(y, test_pd, dpd, true_pd)
    else:
        log.info("no %s column: test segments by days past due skipped", dpd_column)
    dates = pd.to_datetime(test["observation_date"], errors="coerce")
    if dates.notna().any():
        doc["oot_periods"] = period_metrics(y, test_pd, dates, true_pd)
    unseen = ~test[id_column].isin(set(train_ids)).to_numpy()
    doc["customer_disjoint_test"] = {
        "n": int(unseen.sum()),
        "auc": optional_auc(y[unseen], test_pd[unseen]),
    }
    return doc


@dataclass(frozen=True)
class TrainingSample:
    """Which train rows the booster learns on and with what weights (None: every row, unweighted)."""

    rows: np.ndarray | None  # positions into the train rows, ascending
    weights: np.ndarray | None  # one per sampled row: 1 / its class's sampling rate
    of: int  # train rows available
    rates: dict[str, float]  # sampling rate per class ("default", "no_default")

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.of if self.rows is None else int(self.rows.size),
            "of": self.of,
            "sampled": self.rows is not None,
            "rates": self.rates,
            "rule": "every train row"
            if self.rows is None
            else "train.max_train_rows: all defaults while they fit in half the sample (else a "
            "random share of them), the rest non-defaults at random; each row weighted by 1 / "
            "its class's sampling rate; calibration is fitted on unsampled validation rows",
        }


def training_sample(labels: np.ndarray, max_rows: int | None, seed: int) -> TrainingSample:
    """A seeded, class-stratified sample of the train rows when there are more than `max_rows`.

    Defaults are rare and carry most of what the booster learns: all are kept while they fit in
    half the sample; non-defaults fill the rest at random. Weights of 1 / rate per class keep the
    weighted class totals, so the booster's log-odds stay on the full book's scale; the PD is
    calibrated afterwards on rows that were never sampled.
    """
    y = np.asarray(labels).astype(bool)
    n = y.size
    if max_rows is None or n <= max_rows:
        return TrainingSample(None, None, n, {"default": 1.0, "no_default": 1.0})
    positives, negatives = np.flatnonzero(y), np.flatnonzero(~y)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5A4D]))
    keep_pos = min(positives.size, max_rows // 2)
    keep_neg = min(negatives.size, max_rows - keep_pos)
    pos = np.sort(rng.choice(positives, keep_pos, replace=False))
    neg = np.sort(rng.choice(negatives, keep_neg, replace=False))
    rate_pos = keep_pos / positives.size if positives.size else 1.0
    rate_neg = keep_neg / negatives.size if negatives.size else 1.0
    rows = np.sort(np.concatenate([pos, neg]))
    weights = np.where(y[rows], 1.0 / rate_pos, 1.0 / rate_neg)
    return TrainingSample(rows, weights, n, {"default": rate_pos, "no_default": rate_neg})


def samples_doc(parts: dict[str, pd.DataFrame], n_stop: int, n_calibration: int) -> dict[str, Any]:
    """Which rows each block of the metrics was measured on, and what those rows were used for,
    and how the splits were cut (read from the rows' dates: out of time when the test dates all
    come after the training dates)."""
    window = training_window
    train_dates = pd.to_datetime(parts["train"]["observation_date"], errors="coerce").dropna()
    test_dates = pd.to_datetime(parts["test"]["observation_date"], errors="coerce").dropna()
    if train_dates.empty or test_dates.empty:
        split = "random (the rows have no dates)"
    elif test_dates.min() > train_dates.max():
        split = "out of time: every test date after every training date"
    else:
        split = "by account within the same dates (one labelled date): no account in two splits"
    return {
        "split": split,
        "train": {"n": len(parts["train"]), "window": window(parts["train"]), "used_for": "fit"},
        "validation": {
            "n": n_stop,
            "window": window(parts["validation"]),
            "used_for": "early stopping (the round count); out of sample for the calibrator",
        },
        "calibration_sample": {
            "n": n_calibration,
            "window": window(parts["validation"]),
            "used_for": "fitting the calibrator (its numbers are in-sample for calibration)",
        },
        "test": {
            "n": len(parts["test"]),
            "window": window(parts["test"]),
            "used_for": "nothing: measurement only",
        },
    }


def training_window(frame: pd.DataFrame) -> str:
    """First..last observation date of the training rows ('' when the table has no dates)."""
    dates = pd.to_datetime(frame["observation_date"], errors="coerce").dropna()
    if dates.empty:
        return ""
    return f"{dates.min().date()}..{dates.max().date()}"


@dataclass(frozen=True)
class TrainResult:
    """Everything a training run produces; the train stage writes each part to its file."""

    model: PDModel  # meta carries the metrics, window and row counts saved with it
    fit_report: FitReport
    scores: pd.DataFrame  # one row per feature-table row, SCORES contract
    metrics: dict[str, Any]  # reports/metrics.json
    deciles: list[dict[str, Any]]  # reports/deciles.json
    plots: dict[str, list[dict[str, Any]]]  # reports/plots/<name>.json
    training_window: str

    def headline(self) -> dict[str, float | None]:
        """The numbers a reviewer compares across runs (reports/headline/train.json)."""
        doc = self.metrics
        out = {f"test_{k}": doc["test"][k] for k in HEADLINE_TEST}
        out["validation_auc"] = doc["validation"]["auc"]
        out["baseline_test_auc"] = doc["baseline_test"]["auc"]
        if "oracle_test" in doc:
            out["oracle_test_auc"] = doc["oracle_test"]["auc"]
        out["score_psi_train_test"] = doc["score_psi_train_test"]
        if "segments" in doc:
            current = doc["segments"]["not_past_due"]
            out["not_past_due_auc"] = current["auc"]
            if current["oracle_auc"] is not None:
                out["oracle_not_past_due_auc"] = current["oracle_auc"]
        return out


#: The SCORES `sample` column's dtype: one byte a row, however long the book.
SAMPLE_DTYPE = pd.CategoricalDtype(SAMPLES)


def samples_where(mask: np.ndarray, yes: str, no: str) -> pd.Categorical:
    """The `sample` of some rows: `yes` where `mask` holds, else `no` (core.contracts.SAMPLES)."""
    codes = np.where(mask, SAMPLES.index(yes), SAMPLES.index(no)).astype("int8")
    return pd.Categorical.from_codes(codes, dtype=SAMPLE_DTYPE)


def sample_column(sample: str | pd.Categorical, n: int) -> pd.Categorical:
    """The `sample` column of `n` rows: one name for all of them, or one per row."""
    if isinstance(sample, str):
        codes = np.full(n, SAMPLES.index(sample), dtype="int8")
        return pd.Categorical.from_codes(codes, dtype=SAMPLE_DTYPE)
    if len(sample) != n:
        raise ValueError(f"{len(sample)} sample names for {n} rows")
    return sample


def scores_frame(
    table: pd.DataFrame, scored: pd.DataFrame, id_column: str, sample: str | pd.Categorical
) -> pd.DataFrame:
    """The SCORES table: keys, split, sample and label of each row beside its raw score, PD,
    points, grade. `sample` says what training used the rows for (`sample_column`).

    The frame keeps `table`'s index (the rows' positions in the feature table), so the pieces of a
    table scored in blocks go back into the table's order."""
    frame = pd.DataFrame(
        {
            "account_id": table[id_column].to_numpy(),
            "observation_date": pd.to_datetime(table["observation_date"]).to_numpy(),
            "split": table["split"].astype(str).to_numpy(),
            "sample": sample_column(sample, len(table)),
            "default": table["default"].astype("Int8").array,
            "raw_score": scored["raw_score"].to_numpy(),
            "pd": scored["pd"].to_numpy(),
            "score": scored["score"].to_numpy(),
            "grade": scored["grade"].astype(str).to_numpy(),
        },
        index=table.index,
    )
    return check_samples(SCORES.check(frame[SCORES.columns], "train: scores"), "train: scores")


def score_rows(
    model: PDModel, rows: pd.DataFrame, id_column: str, source: str, sample: str | pd.Categorical
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(predict_frame output, SCORES rows) of some feature-table rows, on their index; `sample`
    as `scores_frame` takes it.

    Accounts already in default (90+ DPD) get PD 1 and grade D, not a score (`predict_frame`)."""
    dpd_column = DPD_FEATURE_COLUMN
    days_past_due = rows[dpd_column] if dpd_column in rows.columns else None
    scored = model.predict_frame(rows, source=source, days_past_due=days_past_due)
    return scored, scores_frame(rows, scored, id_column, sample)


def drop_defaulted_labelled(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """The table without labelled rows already in default at their snapshot (90+ DPD).

    Development samples hold performing accounts only: a defaulted account's outcome is known, so
    it would teach the model nothing and flatter the test. The built-in book never labels one;
    a table that does loses those rows here, counted in the log, rather than having them scored.
    """
    dpd_column = DPD_FEATURE_COLUMN
    if dpd_column not in table.columns:
        return table
    drop = in_default(table[dpd_column]) & table["split"].isin(LABELLED_SPLITS).to_numpy()
    if drop.any():
        counts = table.loc[drop, "split"].value_counts().to_dict()
        log.warning(
            "%s: %d labelled rows already in default (%s >= %d) left out of %s",
            source,
            int(drop.sum()),
            dpd_column,
            DEFAULT_DPD,
            counts,
        )
        return table[~drop]
    return table


def train_pd(
    table: pd.DataFrame,
    catalogue: Catalogue,
    truth: pd.DataFrame | None,
    config: TrainConfig,
    source: str = "features",
) -> TrainResult:
    """Fit, calibrate, score and measure; `table` is the feature table as `read_features` returns it.

    The in-memory form of `train_on_splits` (tests, notebooks, small tables): the scores come
    back in the table's row order.
    """
    table = table.reset_index(drop=True)
    split_of = table["split"].to_numpy()
    parts = {split: table[split_of == split] for split in LABELLED_SPLITS}
    return train_on_splits(parts, [table[split_of == "score"]], catalogue, truth, config, source)


def run_train(features_dir: Path, truth: pd.DataFrame | None, config: TrainConfig) -> TrainResult:
    """The train stage's work: read the feature table's labelled rows, train and measure, then
    score the current book block by block straight from the file (`train_on_splits`).

    The whole feature table is never in memory: only its labelled rows and one block of the
    current book. Every input is checked before anything is fitted."""
    catalogue = read_catalogue(features_dir)
    parts = read_labelled_splits(features_dir, catalogue)
    book = book_blocks(features_dir, catalogue)
    source = str(features_dir / FEATURES.file)
    return train_on_splits(parts, book, catalogue, truth, config, source=source)


def train_on_splits(
    parts: dict[str, pd.DataFrame],
    book: Iterable[pd.DataFrame],
    catalogue: Catalogue,
    truth: pd.DataFrame | None,
    config: TrainConfig,
    source: str = "features",
) -> TrainResult:
    """Fit, calibrate, score and measure on the labelled splits, then score the current book.

    `parts` holds the train, validation and test rows; `book` yields the current book's rows
    (split "score"), block by block, after training: the train stage reads them from the file
    then, so the whole feature table is never in memory. Every frame's index is its rows'
    positions in the feature table; the scores come back in that order.

    The booster learns on `train` (or a weighted sample of it); the `validation` customers are cut
    in two, one part for early stopping and one for calibration (`PDEstimator`), and the scores'
    `sample` column records which rows went where; `test` measures
    it, beside a logistic baseline (fitted on a seeded sample of at most `baseline_max_rows` train
    rows, the same rows every run) and, when `truth` is given, the true PD as an oracle.
    Accounts already in default (90+ DPD) leave the labelled splits and are not scored in the
    current book (PD 1, grade D; `PDModel.predict_frame`).
    """
    parts = {s: drop_defaulted_labelled(parts[s], source) for s in LABELLED_SPLITS}
    labels = {s: parts[s]["default"].astype("int8").to_numpy() for s in LABELLED_SPLITS}
    # the booster may learn on a weighted sample; every metric, the baseline and the ids of the
    # "seen" customers still come from all train rows
    sample = training_sample(labels["train"], config.max_train_rows, config.seed)
    fit_rows = parts["train"] if sample.rows is None else parts["train"].iloc[sample.rows]

    estimator = PDEstimator(config, catalogue, source=source).fit(
        fit_rows, parts["validation"], sample_weight=sample.weights
    )
    model, fit_report = estimator.model_, estimator.report_
    del fit_rows
    baseline_train = parts["train"]
    if len(baseline_train) > config.baseline_max_rows:
        baseline_train = baseline_train.sample(config.baseline_max_rows, random_state=config.seed)
    baseline = LogisticBaseline(catalogue).fit(
        baseline_train, baseline_train["default"].astype("int8").to_numpy()
    )
    del baseline_train

    # what each labelled row was used for, recorded once in the scores' `sample` column
    valid = parts["validation"]
    if not valid.index.is_unique:
        raise ValueError("the validation rows need a unique index (their feature-table rows)")
    early = valid.index.isin(estimator.early_stopping_index_)
    learned = np.ones(len(parts["train"]), dtype=bool)
    if sample.rows is not None:
        learned[:] = False
        learned[sample.rows] = True
    used_for = {
        "train": samples_where(learned, "train", "train_unsampled"),
        "validation": samples_where(early, "early_stopping", "calibration"),
        "test": "test",
    }
    by_split: dict[str, pd.DataFrame] = {}
    pieces: list[pd.DataFrame] = []
    for split in LABELLED_SPLITS:
        by_split[split], rows = score_rows(
            model, parts[split], catalogue.id_column, source, used_for[split]
        )
        pieces.append(rows)
    test_pd = by_split["test"]["pd"].to_numpy()
    stop_rows, calibration_rows = valid[early], valid[~early]

    def measured(rows: pd.DataFrame) -> dict[str, float]:
        pd_values = by_split["validation"].loc[rows.index, "pd"]
        return summary(rows["default"].astype("int8").to_numpy(), pd_values)

    doc: dict[str, Any] = {
        "test": summary(labels["test"], test_pd),
        "validation": measured(stop_rows),
        "calibration_sample": measured(calibration_rows),
        "baseline_test": summary(labels["test"], baseline.predict_pd(parts["test"])),
        "samples": samples_doc(parts, len(stop_rows), len(calibration_rows)),
    }
    doc["samples"]["train"]["sample"] = sample.to_dict()
    doc.update(truth_metrics(parts["test"], test_pd, truth, catalogue.id_column))
    doc.update(
        evaluation_metrics(
            parts["test"],
            test_pd,
            parts["train"][catalogue.id_column],
            true_pd_of_rows(parts["test"], truth, catalogue.id_column),
            catalogue.id_column,
        )
    )
    doc["score_psi_train_test"] = psi(
        by_split["train"]["score"].to_numpy(), by_split["test"]["score"].to_numpy()
    )
    log.info(
        "test AUC %.4f (baseline %.4f, oracle %s), ECE %.4f, PSI %.4f",
        doc["test"]["auc"],
        doc["baseline_test"]["auc"],
        f"{doc['oracle_test']['auc']:.4f}" if "oracle_test" in doc else "n/a",
        doc["test"]["ece"],
        doc["score_psi_train_test"],
    )
    deciles = decile_table(labels["test"], test_pd)
    grades_test = by_split["test"]["grade"].to_numpy()
    plots = curve_bundle(labels["test"], test_pd, grades_test, model.grade_order)
    window = training_window(parts["train"])
    model.meta.update(
        {
            "metrics": {k: doc[k] for k in ("test", "validation")},
            "training_window": window,
            "n_train": fit_report.n_train,
            "n_validation": fit_report.n_validation,
            "n_calibration": fit_report.n_calibration,
            # The run's own logistic baseline, so the register stage's gate compares the model
            # with it on the same test rows without refitting (models.gate, `vs_baseline`).
            "baseline": baseline.to_dict(),
        }
    )
    for rows in book:  # the current book, block by block, after training
        pieces.append(score_rows(model, rows, catalogue.id_column, source, "score")[1])
    scores = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
    del pieces
    if not scores.index.is_monotonic_increasing:  # back into the feature table's row order
        scores = scores.iloc[np.argsort(scores.index.to_numpy(), kind="stable")]
    scores = scores.reset_index(drop=True)
    log.info(
        "scored %d rows (%d in the current book)",
        len(scores),
        int(scores["split"].eq("score").sum()),
    )
    return TrainResult(
        model=model,
        fit_report=fit_report,
        scores=scores,
        metrics=doc,
        deciles=deciles,
        plots=plots,
        training_window=window,
    )
