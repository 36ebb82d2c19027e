"""How the PD model is made: `PDEstimator(config, catalogue).fit(train, validation)`.

The estimator follows scikit-learn's conventions, like the model's challengers (the logistic
baseline `models.baseline`, the WoE scorecard `models.scorecard`): settings at construction,
`fit` learns and returns the estimator, what it learned ends in `_` (`model_`, the fitted
`models.pd_model.PDModel`; `report_`; which validation rows stopped early and which fitted the
calibrator). The fitted `PDModel` has no `fit`: it is what a run produced and what serving loads.

The recipe: LightGBM on the catalogue's features with monotone constraints, early stopping on one
part of the validation customers, a calibrator fitted on the other part, then a monotonicity
check. The settings are `models.train_config.TrainConfig`.

Class imbalance: defaults are rare, but the booster is trained on the natural class mix without
re-weighting (no `is_unbalance` / `scale_pos_weight`). Re-weighting inflates every PD and only the
calibrator could undo it; tree ranking quality is unaffected by the mix, and `min_child_samples`
keeps leaves large enough to hold some defaults.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, to_model_frame
from core.errors import ConfigError, DataValidationError, PipelineError
from models.calibration import make_calibrator
from models.distributed import SCHEDULER_ENV, fit_on_cluster, scheduler_address
from models.pd_model import PDModel
from models.train_config import TrainConfig, lgb_params, monotone_vector, scaled_to_rows

log = logging.getLogger(__name__)


def _labels(frame: pd.DataFrame, source: str, target: str) -> np.ndarray:
    """The 0/1 target of a labelled frame as int8; a missing or other value names its row."""
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
        """The report of a saved model, from its meta (`train_on_splits` records the counts there).

        A saved model has no monotone violations: `PDEstimator.fit` refuses to return one that has.
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
    seeded, so a rerun keeps the same rows. Ids are taken by their text, so a book whose ids
    are numbers and the same book with its ids written as text are cut alike. The train stage
    records the cut in the scores' `sample` column: later stages read it there rather than cut
    again.
    """
    ids = valid[id_column].astype(str).to_numpy()
    unique = np.unique(ids)
    rng = np.random.default_rng(seed)
    n_cal = int(round(calibration_fraction * len(unique)))
    to_calibration = np.isin(ids, rng.permutation(unique)[:n_cal])
    return valid[~to_calibration], valid[to_calibration]


class PDEstimator:
    """The PD model's recipe as an estimator: `PDEstimator(config, catalogue).fit(train, valid)`.

    Fitted attributes: `model_` (the `PDModel`), `report_` (`FitReport`), and the index labels of
    the validation rows that stopped the booster early (`early_stopping_index_`) and of those that
    fitted the calibrator (`calibration_index_`).
    """

    def __init__(
        self,
        config: TrainConfig,
        catalogue: Catalogue,
        target: str = "default",
        source: str = "features",
    ) -> None:
        self.config = config
        self.catalogue = catalogue
        self.target = target
        self.source = source

    def fit(
        self,
        train: pd.DataFrame,
        validation: pd.DataFrame,
        sample_weight: np.ndarray | None = None,
    ) -> PDEstimator:
        """Train the booster on `train`, stop early on part of `validation`, calibrate on the
        rest, verify monotonicity.

        The validation split is cut by customer (`split_validation`): early stopping sees one
        part, the calibrator the other (`calibration_fraction`), so neither number is in-sample
        for the other. `sample_weight` (one per train row) weights the booster's rows. Raises
        PipelineError if a constrained feature turns out non-monotone (a LightGBM bug or a broken
        catalogue direction must not ship silently).
        """
        config, catalogue, source, target = self.config, self.catalogue, self.source, self.target
        stop_rows, calibration_rows = split_validation(
            validation, catalogue.id_column, config.calibration_fraction, config.seed
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
        scaled, tree_size = scaled_to_rows(config, len(train))
        booster = train_booster(train, stop_rows, catalogue, scaled, target, source, sample_weight)
        raw_cal = np.asarray(
            booster.predict(to_model_frame(calibration_rows, catalogue, source), raw_score=True),
            dtype="float64",
        )
        calibrator = make_calibrator(scaled.calibration, scaled.pd_floor)
        calibrator.fit(raw_cal, _labels(calibration_rows, source, target))
        violations: dict[str, float] = {}
        if scaled.monotone_constraints:
            violations = check_monotone(booster, train, catalogue, seed=scaled.seed)
            if violations:
                raise PipelineError(
                    f"trained model is not monotone on {sorted(violations)} "
                    f"(worst steps against the catalogue direction: {violations})"
                )
        gain = booster.feature_importance(importance_type="gain")
        total = float(gain.sum()) or 1.0
        importance = {
            n: float(g) / total for n, g in zip(booster.feature_name(), gain, strict=True)
        }
        self.report_ = FitReport(
            best_iteration=int(booster.current_iteration()),
            n_train=len(train),
            n_validation=len(stop_rows),
            n_calibration=len(calibration_rows),
            monotone_violations=violations,
            feature_importance=dict(sorted(importance.items(), key=lambda kv: -kv[1])),
        )
        self.model_ = PDModel(
            booster=booster,
            calibrator=calibrator,
            scaling=scaled.scaling,
            master_scale=scaled.grades,
            catalogue=catalogue,
            pd_floor=scaled.pd_floor,
            meta={
                "best_iteration": self.report_.best_iteration,
                "calibration": scaled.calibration,
                "monotone_constraints": scaled.monotone_constraints,
                "feature_importance": self.report_.feature_importance,
                "tree_size": tree_size,
                # the settings as configured (params.yaml), before the small-table scaling: what
                # the register stage logs as the run's params
                "train_config": config.to_flat_dict(),
            },
        )
        self.early_stopping_index_ = stop_rows.index
        self.calibration_index_ = calibration_rows.index
        return self

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray:
        """The fitted model's calibrated PD per row (as the challengers' `predict_pd`)."""
        if not hasattr(self, "model_"):
            raise RuntimeError("PDEstimator is not fitted: call fit first")
        return self.model_.predict_pd(frame, source=self.source)
