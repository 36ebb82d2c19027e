"""The PD model: LightGBM on the catalogue's features, calibrated, scaled to points and grades.

`PDModel` is the single code path from a feature-table frame to (raw log-odds, PD, points, grade):
the train stage, explanations, tiers and the served MLflow model all go through it. It saves to a
directory of plain files (no pickles): `booster.txt` (LightGBM text format, trimmed to the best
iteration), `calibrator.json` and `model_meta.json` (catalogue, scaling, grades, floor, metrics).

Class imbalance: defaults are rare, but the booster is trained on the natural class mix without
re-weighting (no `is_unbalance` / `scale_pos_weight`). Re-weighting inflates every PD and only the
calibrator could undo it; tree ranking quality is unaffected by the mix, and `min_child_samples`
keeps leaves large enough to hold some defaults.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, model_matrix, to_model_frame
from core.dpd import in_default
from core.errors import ConfigError, DataValidationError, PipelineError
from models.calibration import calibrator_from_dict, make_calibrator
from models.distributed import SCHEDULER_ENV, DaskConfig, fit_on_cluster, scheduler_address
from models.scaling import DEFAULT_GRADE, MasterScale, ScoreScaling

#: Rows scored per block by `PDModel.predict_raw` (bounded memory, same scores).
PREDICT_BLOCK_ROWS = 500_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmallTableRule:
    """How the tree-size params shrink with the training rows (params.yaml `train.small_table`).

    The configured `min_child_samples`, `min_data_per_group` and `num_leaves` are upper bounds,
    sized for the built-in book (~80k training rows). On n training rows (`effective_tree_size`):

    - min_child_samples = min(configured, max(min_child_floor, round(min_child_share * n)))
    - min_data_per_group = min(configured, max(min_child_floor, round(min_child_share * n)))
    - num_leaves = min(configured, max(2, n // rows_per_leaf))
    - on a small table, i.e. when min_child_share * n < the configured min_child_samples:
      feature_fraction = min(configured, feature_fraction) and extra_trees = configured or
      extra_trees (random split thresholds); otherwise both as configured.

    Issue 16: with 200 rows per leaf a 1,000-row table (600 training rows) allows three leaves, a
    158-row perfectly predictive flag got no split at all and LightGBM lost to the logistic
    baseline on every seed of German credit.
    """

    min_child_share: float  # rows per leaf (and per categorical group) as a share of train rows
    min_child_floor: int  # never fewer rows per leaf than this
    rows_per_leaf: int  # at most one leaf per this many training rows
    feature_fraction: float  # column subsample on a small table (fewer rows: more randomness)
    extra_trees: bool  # random split thresholds on a small table

    def __post_init__(self) -> None:
        if not 0 < self.min_child_share < 1:
            raise ValueError(f"min_child_share must lie in (0, 1), got {self.min_child_share}")
        if self.min_child_floor < 1 or self.rows_per_leaf < 1:
            raise ValueError("min_child_floor and rows_per_leaf must be >= 1")
        if not 0 < self.feature_fraction <= 1:
            raise ValueError(f"feature_fraction must lie in (0, 1], got {self.feature_fraction}")


BOOSTER_FILE = "booster.txt"
CALIBRATOR_FILE = "calibrator.json"
META_FILE = "model_meta.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """LightGBM and post-processing settings, all stated (params.yaml `train:` via its reader).

    No defaults: the values and their ranges live in params.yaml and `pipelines.params.train`;
    tests build a config from the real params (tests/models/train_helpers.py).
    """

    objective: str
    learning_rate: float
    num_leaves: int
    max_depth: int
    min_child_samples: int
    feature_fraction: float
    bagging_fraction: float
    bagging_freq: int
    lambda_l1: float
    lambda_l2: float
    min_gain_to_split: float
    cat_smooth: float
    min_data_per_group: int
    max_cat_to_onehot: int
    path_smooth: float
    extra_trees: bool
    num_boost_round: int
    early_stopping_rounds: int
    num_threads: int
    monotone_constraints: bool
    monotone_method: str
    calibration: str
    calibration_fraction: float  # share of validation customers kept apart for calibration
    pd_floor: float
    baseline_max_rows: int  # the logistic baseline gains nothing from millions of rows
    max_train_rows: int | None  # booster trained on a weighted sample above this (None: all)
    scaling: ScoreScaling
    grades: MasterScale
    dask: DaskConfig  # cluster fit only (DASK_SCHEDULER_ADDRESS set): time-out and retries
    small_table: SmallTableRule  # tree-size params scaled down to the training rows
    seed: int

    def to_flat_dict(self) -> dict[str, Any]:
        """Flat params for experiment tracking."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, ScoreScaling):
                out.update({f"scaling.{k}": x for k, x in v.to_dict().items()})
            elif isinstance(v, MasterScale):
                out.update({f"grade.{n}": b for n, b in v.to_list()})
            elif isinstance(v, SmallTableRule):
                out.update({f"small_table.{k}": x for k, x in asdict(v).items()})
            elif isinstance(v, DaskConfig):
                out.update({f"dask.{k}": x for k, x in asdict(v).items()})
            else:
                out[f.name] = v
        return out


def monotone_vector(catalogue: Catalogue) -> list[int]:
    """LightGBM monotone constraint per model column: the catalogue's risk direction.

    +1 = riskier as the value grows, so the log-odds of default must not decrease. Categorical
    features have no order and stay unconstrained.
    """
    return [0 if f.dtype == "category" else int(np.sign(f.direction)) for f in catalogue.features]


#: The params `effective_tree_size` may lower.
TREE_SIZE_PARAMS: tuple[str, ...] = (
    "num_leaves",
    "min_child_samples",
    "min_data_per_group",
    "feature_fraction",
    "extra_trees",
)


def effective_tree_size(config: TrainConfig, n_train: int) -> dict[str, Any]:
    """The tree-size params LightGBM gets on `n_train` training rows (`SmallTableRule`)."""
    rule = config.small_table
    per_leaf = max(rule.min_child_floor, int(round(rule.min_child_share * n_train)))
    small = rule.min_child_share * n_train < config.min_child_samples
    return {
        "num_leaves": min(config.num_leaves, max(2, n_train // rule.rows_per_leaf)),
        "min_child_samples": min(config.min_child_samples, per_leaf),
        "min_data_per_group": min(config.min_data_per_group, per_leaf),
        "feature_fraction": (
            min(config.feature_fraction, rule.feature_fraction)
            if small
            else config.feature_fraction
        ),
        "extra_trees": config.extra_trees or (small and rule.extra_trees),
    }


def scaled_to_rows(config: TrainConfig, n_train: int) -> tuple[TrainConfig, dict[str, Any]]:
    """`config` with the tree-size params of `effective_tree_size`, and the record for the meta:
    {"n_train", "small_table", and per param {"configured", "effective"}}; logged when any
    param is lowered."""
    from dataclasses import replace

    effective = effective_tree_size(config, n_train)
    record: dict[str, Any] = {
        "n_train": int(n_train),
        "small_table": bool(
            config.small_table.min_child_share * n_train < config.min_child_samples
        ),
        **{k: {"configured": getattr(config, k), "effective": v} for k, v in effective.items()},
    }
    changed = {k: v for k, v in effective.items() if v != getattr(config, k)}
    if changed:
        log.info(
            "small table (%d training rows): %s",
            n_train,
            ", ".join(f"{k} {getattr(config, k)} -> {v}" for k, v in changed.items()),
        )
    return replace(config, **effective), record


def lgb_params(config: TrainConfig, catalogue: Catalogue) -> dict[str, Any]:
    """LightGBM params from `config` as given (`fit_pd_model` first applies `scaled_to_rows`)."""
    params: dict[str, Any] = {
        "objective": config.objective,
        "metric": ["binary_logloss", "auc"],
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "max_depth": config.max_depth,
        "min_child_samples": config.min_child_samples,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction,
        "bagging_freq": config.bagging_freq,
        "lambda_l1": config.lambda_l1,
        "lambda_l2": config.lambda_l2,
        "min_gain_to_split": config.min_gain_to_split,
        "cat_smooth": config.cat_smooth,
        "min_data_per_group": config.min_data_per_group,
        "max_cat_to_onehot": config.max_cat_to_onehot,
        "path_smooth": config.path_smooth,
        "extra_trees": config.extra_trees,
        "num_threads": config.num_threads,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    if config.monotone_constraints:
        mono = monotone_vector(catalogue)
        if any(mono):
            params["monotone_constraints"] = mono
            params["monotone_constraints_method"] = config.monotone_method
    return params


def _labels(frame: pd.DataFrame, source: str, target: str) -> np.ndarray:
    if target not in frame.columns:
        raise DataValidationError(source, "target column is missing", column=target)
    y = frame[target]
    if y.isna().any():
        row = int(np.flatnonzero(y.isna().to_numpy())[0])
        raise DataValidationError(
            source, "labelled split has a missing target", column=target, row=row
        )
    values = y.astype("float64").to_numpy()
    if not np.isin(values, (0.0, 1.0)).all():
        row = int(np.flatnonzero(~np.isin(values, (0.0, 1.0)))[0])
        raise DataValidationError(source, "target must be 0/1", column=target, row=row)
    return values.astype("int8")


def train_booster(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    catalogue: Catalogue,
    config: TrainConfig,
    target: str = "default",
    source: str = "features",
    weights: np.ndarray | None = None,
) -> Any:
    """Train LightGBM with early stopping on `valid`; returns the booster trimmed to its best round.

    `weights` (one per train row; `models.training.training_sample`) make a sample of the train
    rows count as the rows it stands for. Local fits only: a cluster holds every row.

    Local by default; with `DASK_SCHEDULER_ADDRESS` set, the same params are fitted by
    lightgbm.dask on that cluster (`models.distributed.fit_on_cluster`). Only the fit call differs:
    both paths return a plain Booster, trimmed and re-loaded from its text here.
    """
    import lightgbm as lgb

    y_tr, y_va = _labels(train, source, target), _labels(valid, source, target)
    for name, y in (("train", y_tr), ("validation", y_va)):
        if y.size == 0 or not 0 < y.sum() < y.size:
            raise DataValidationError(
                source, f"split '{name}' needs both defaults and non-defaults", column=target
            )
    x_tr, x_va = to_model_frame(train, catalogue, source), to_model_frame(valid, catalogue, source)
    params = lgb_params(config, catalogue)
    address = scheduler_address()
    if address is None:
        cats = catalogue.categorical or "auto"
        d_tr = lgb.Dataset(
            x_tr, label=y_tr, weight=weights, categorical_feature=cats, free_raw_data=True
        )
        d_va = lgb.Dataset(x_va, label=y_va, categorical_feature=cats, reference=d_tr)
        evals: dict[str, Any] = {}
        booster = lgb.train(
            params,
            d_tr,
            num_boost_round=config.num_boost_round,
            valid_sets=[d_va],
            valid_names=["validation"],
            callbacks=[
                lgb.early_stopping(
                    config.early_stopping_rounds, first_metric_only=True, verbose=False
                ),
                lgb.record_evaluation(evals),
            ],
        )
    elif weights is not None:
        raise ConfigError(
            "train.max_train_rows",
            "a weighted training sample is for local training; on a Dask cluster the workers "
            f"hold every row (unset it, or unset {SCHEDULER_ENV})",
        )
    else:
        booster, evals = fit_on_cluster(
            address,
            x_tr,
            y_tr,
            x_va,
            y_va,
            params,
            config.num_boost_round,
            config.early_stopping_rounds,
            {f.name: list(f.categories or ()) for f in catalogue.features if f.dtype == "category"},
            config.dask,
        )
    best = booster.best_iteration or booster.current_iteration()
    log.info(
        "LightGBM%s: best iteration %d (stopped after %d), validation logloss %.5f",
        "" if address is None else f" on the Dask cluster at {address}",
        best,
        len(evals["validation"]["binary_logloss"]),
        evals["validation"]["binary_logloss"][best - 1],
    )
    # Re-load from the trimmed text so every later predict sees exactly what is saved.
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def check_monotone(
    booster: Any,
    frame: pd.DataFrame,
    catalogue: Catalogue,
    n_rows: int = 200,
    n_grid: int = 25,
    seed: int = 0,
    tol: float = 1e-9,
) -> dict[str, float]:
    """Largest violation per constrained feature when it is swept over a grid on sample rows.

    For each feature with a risk direction, every sampled row is re-scored with the feature set to
    each grid value (quantiles of the data); the raw log-odds must move only in the stated
    direction. Returns {feature: worst step against the direction} for the features that break it.
    """
    x = to_model_frame(frame, catalogue)
    rng = np.random.default_rng(seed)
    sample = x.iloc[rng.choice(len(x), size=min(n_rows, len(x)), replace=False)]
    violations: dict[str, float] = {}
    for spec, sign in zip(catalogue.features, monotone_vector(catalogue), strict=True):
        if sign == 0:
            continue
        col = x[spec.name].dropna().to_numpy()
        if col.size == 0:
            continue
        grid = np.unique(np.quantile(col, np.linspace(0, 1, n_grid)))
        if grid.size < 2:
            continue
        stacked = pd.concat([sample] * grid.size, ignore_index=True)
        stacked[spec.name] = np.repeat(grid, len(sample))
        raw = booster.predict(stacked, raw_score=True).reshape(grid.size, len(sample))
        steps = np.diff(raw, axis=0) * sign
        worst = float(steps.min())
        if worst < -tol:
            violations[spec.name] = -worst
    return violations


@dataclass
class PDModel:
    """Booster + calibrator + scaling + grades + catalogue: frame in, PD / points / grade out."""

    booster: Any
    calibrator: Any
    scaling: ScoreScaling
    master_scale: MasterScale
    catalogue: Catalogue
    pd_floor: float
    meta: dict[str, Any] = field(default_factory=dict)

    def model_frame(self, frame: pd.DataFrame, source: str = "input") -> pd.DataFrame:
        return to_model_frame(frame, self.catalogue, source)

    def predict_raw(self, frame: pd.DataFrame, source: str = "input") -> np.ndarray:
        """Uncalibrated log-odds of default (the booster's raw margin).

        Rows are scored in blocks of `PREDICT_BLOCK_ROWS`: each row's score depends on that row
        alone, so the result is the same, and the model matrix of a book of millions of rows is
        never built whole (a 12M-row table would need a 2.4 GB copy at once).
        """
        if len(frame) == 0:
            self.model_frame(frame, source)  # the column checks still apply
            return np.zeros(0, dtype="float64")
        out = np.empty(len(frame), dtype="float64")
        for start in range(0, len(frame), PREDICT_BLOCK_ROWS):
            block = frame.iloc[start : start + PREDICT_BLOCK_ROWS]
            try:
                matrix = model_matrix(self.model_frame(block, source))
            except DataValidationError as exc:  # name the row of the whole frame, not the block
                raise exc.shifted(start) from None
            out[start : start + len(block)] = self.raw_from_matrix(matrix)
        return out

    def raw_from_matrix(self, matrix: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Raw scores of a model matrix (`model_matrix`, `direct_model_matrix`) as float64.

        `num_threads=1` for a few rows: on a busy machine LightGBM's OpenMP threads cost more than
        the trees of one row (the served model scores small requests so); scores are the same.
        """
        threads = {} if num_threads is None else {"num_threads": num_threads}
        return np.asarray(self.booster.predict(matrix, raw_score=True, **threads), dtype="float64")

    def pd_from_raw(self, raw: Any) -> np.ndarray:
        return self.calibrator.transform(raw)

    def predict_pd(self, frame: pd.DataFrame, source: str = "input") -> np.ndarray:
        return self.pd_from_raw(self.predict_raw(frame, source))

    def scores(self, pd_values: Any) -> np.ndarray:
        return self.scaling.points(pd_values)

    def grades(self, pd_values: Any) -> np.ndarray:
        return self.master_scale.assign(pd_values)

    def predict_frame(
        self, frame: pd.DataFrame, source: str = "input", days_past_due: Any | None = None
    ) -> pd.DataFrame:
        """raw_score, pd, score (points, rounded to 0.1) and grade per row, on the frame's index.

        With `days_past_due` (one value per row), an account already in default (90+ DPD) is not
        scored: PD 1, grade `DEFAULT_GRADE`, raw score and points null (`outcome_columns`, which
        the served model calls on its own raw scores, so the rule has one code path).
        """
        cols = self.outcome_columns(self.predict_raw(frame, source), days_past_due, source)
        cols["grade"] = pd.Series(cols["grade"], dtype="str").to_numpy()
        return pd.DataFrame(cols, index=frame.index)

    def outcome_columns(
        self, raw: np.ndarray, days_past_due: Any | None = None, source: str = "input"
    ) -> dict[str, np.ndarray]:
        """raw_score, pd, score (points, rounded to 0.1) and grade (object) from raw scores.

        With `days_past_due` (one value per raw score), an account already in default (90+ DPD,
        `core.dpd.in_default`) is not scored: PD 1, grade `DEFAULT_GRADE`, raw score and points
        null. Raises DataValidationError when the days past due do not match the raw scores.
        """
        pd_values = self.pd_from_raw(raw)
        points = np.round(self.scores(pd_values), 1)
        grades = pd.Series(self.grades(pd_values), dtype="str").to_numpy(dtype=object)
        if days_past_due is not None:
            defaulted = in_default(days_past_due)
            if defaulted.size != len(raw):
                raise DataValidationError(
                    source, f"days_past_due has {defaulted.size} values for {len(raw)} rows"
                )
            raw = np.where(defaulted, np.nan, raw)
            pd_values = np.where(defaulted, 1.0, pd_values)
            points = np.where(defaulted, np.nan, points)
            grades[defaulted] = DEFAULT_GRADE
        return {"raw_score": raw, "pd": pd_values, "score": points, "grade": grades}

    @property
    def grade_order(self) -> list[str]:
        """The master scale's grades, best first (`DEFAULT_GRADE`, a status, comes after them)."""
        return list(self.master_scale.names)

    def save(self, directory: str | Path) -> None:
        """Write booster.txt, calibrator.json and model_meta.json into `directory` (created)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(d / BOOSTER_FILE))
        (d / CALIBRATOR_FILE).write_text(json.dumps(self.calibrator.to_dict(), indent=1) + "\n")
        meta = {
            "format_version": FORMAT_VERSION,
            "catalogue": self.catalogue.to_dict(),
            "scaling": self.scaling.to_dict(),
            "grades": self.master_scale.to_list(),
            "pd_floor": self.pd_floor,
            **{k: v for k, v in self.meta.items() if k not in _RESERVED_META},
        }
        from core.io import json_safe

        (d / META_FILE).write_text(json.dumps(json_safe(meta), indent=2, default=str) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> PDModel:
        import lightgbm as lgb

        d = Path(directory)
        for name in (BOOSTER_FILE, CALIBRATOR_FILE, META_FILE):
            if not (d / name).exists():
                raise PipelineError(
                    f"model directory '{d}' lacks {name}; run the train stage first"
                )
        meta = json.loads((d / META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise PipelineError(
                f"{d / META_FILE}: format_version {meta.get('format_version')} is not supported"
            )
        booster = lgb.Booster(model_file=str(d / BOOSTER_FILE))
        calibrator = calibrator_from_dict(json.loads((d / CALIBRATOR_FILE).read_text()))
        return cls(
            booster=booster,
            calibrator=calibrator,
            scaling=ScoreScaling.from_dict(meta["scaling"]),
            master_scale=MasterScale.from_pairs(meta["grades"]),
            catalogue=Catalogue.from_dict(meta["catalogue"]),
            pd_floor=float(meta["pd_floor"]),
            meta={k: v for k, v in meta.items() if k not in _RESERVED_META},
        )


_RESERVED_META = {"format_version", "catalogue", "scaling", "grades", "pd_floor"}


@dataclass(frozen=True)
class FitReport:
    best_iteration: int
    n_train: int
    n_validation: int  # early stopping rows
    n_calibration: int  # calibration rows (validation customers kept apart)
    monotone_violations: dict[str, float]
    feature_importance: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> FitReport:
        """The report of a saved model, from its meta (`train_pd` records the counts there).

        A saved model has no monotone violations: `fit_pd_model` refuses to return one that has.
        """
        return cls(
            best_iteration=int(meta["best_iteration"]),
            n_train=int(meta["n_train"]),
            n_validation=int(meta["n_validation"]),
            n_calibration=int(meta["n_calibration"]),
            monotone_violations={},
            feature_importance=dict(meta["feature_importance"]),
        )


def split_validation(
    valid: pd.DataFrame, id_column: str, calibration_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The validation rows cut in two by customer: (early stopping, calibration).

    Early stopping and calibration must not share rows, or the calibrator's "validation" numbers
    are in-sample. The cut is by account, so one customer's snapshots stay on one side, and
    seeded, so a rerun keeps the same rows.
    """
    ids = valid[id_column].to_numpy()
    unique = np.unique(ids)
    rng = np.random.default_rng(seed)
    n_cal = int(round(calibration_fraction * len(unique)))
    to_calibration = np.isin(ids, rng.permutation(unique)[:n_cal])
    return valid[~to_calibration], valid[to_calibration]


def fit_pd_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    catalogue: Catalogue,
    config: TrainConfig,
    target: str = "default",
    source: str = "features",
    weights: np.ndarray | None = None,
) -> tuple[PDModel, FitReport]:
    """Train the booster on `train`, stop early on part of `valid`, calibrate on the rest, verify
    monotonicity.

    The validation split is cut by customer (`split_validation`): early stopping sees one part,
    the calibrator the other (`calibration_fraction`), so neither number is in-sample for the
    other. Raises PipelineError if a constrained feature turns out non-monotone (a LightGBM bug
    or a broken catalogue direction must not ship silently).
    """
    stop_rows, calibration_rows = split_validation(
        valid, catalogue.id_column, config.calibration_fraction, config.seed
    )
    for name, rows in (("early stopping", stop_rows), ("calibration", calibration_rows)):
        y = _labels(rows, source, target)
        if y.size == 0 or not 0 < y.sum() < y.size:
            raise DataValidationError(
                source,
                f"the validation split's {name} part ({len(rows)} rows, calibration_fraction "
                f"{config.calibration_fraction}) needs both defaults and non-defaults",
                column=target,
            )
    config, tree_size = scaled_to_rows(config, len(train))
    booster = train_booster(train, stop_rows, catalogue, config, target, source, weights)
    raw_cal = np.asarray(
        booster.predict(to_model_frame(calibration_rows, catalogue, source), raw_score=True),
        dtype="float64",
    )
    calibrator = make_calibrator(config.calibration, config.pd_floor)
    calibrator.fit(raw_cal, _labels(calibration_rows, source, target))
    violations: dict[str, float] = {}
    if config.monotone_constraints:
        violations = check_monotone(booster, train, catalogue, seed=config.seed)
        if violations:
            raise PipelineError(
                f"trained model is not monotone on {sorted(violations)} "
                f"(worst steps against the catalogue direction: {violations})"
            )
    gain = booster.feature_importance(importance_type="gain")
    total = float(gain.sum()) or 1.0
    importance = {n: float(g) / total for n, g in zip(booster.feature_name(), gain, strict=True)}
    report = FitReport(
        best_iteration=int(booster.current_iteration()),
        n_train=len(train),
        n_validation=len(stop_rows),
        n_calibration=len(calibration_rows),
        monotone_violations=violations,
        feature_importance=dict(sorted(importance.items(), key=lambda kv: -kv[1])),
    )
    model = PDModel(
        booster=booster,
        calibrator=calibrator,
        scaling=config.scaling,
        master_scale=config.grades,
        catalogue=catalogue,
        pd_floor=config.pd_floor,
        meta={
            "best_iteration": report.best_iteration,
            "calibration": config.calibration,
            "monotone_constraints": config.monotone_constraints,
            "feature_importance": report.feature_importance,
            "tree_size": tree_size,
        },
    )
    return model, report


__all__ = [
    "FitReport",
    "PDModel",
    "TrainConfig",
    "check_monotone",
    "fit_pd_model",
    "lgb_params",
    "SmallTableRule",
    "TREE_SIZE_PARAMS",
    "effective_tree_size",
    "scaled_to_rows",
    "monotone_vector",
    "split_validation",
    "train_booster",
]
