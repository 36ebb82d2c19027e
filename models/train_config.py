"""The PD model's training recipe as data: its settings, and the LightGBM params they make.

`TrainConfig` holds every setting of a training run (params.yaml `train:` through
`pipelines.params.train`; no defaults here). The tree-size params are upper bounds that shrink
with the training rows (`SmallTableRule`, `scaled_to_rows`), and `lgb_params` turns a config into
what `lightgbm.train` gets. `models.pd_estimator` carries the recipe out; the fitted model
(`models.pd_model.PDModel`) knows nothing of it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from core.catalogue import Catalogue
from models.distributed import DaskConfig
from models.scaling import MasterScale, ScoreScaling

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
        """Flat params for experiment tracking (saved in model_meta.json `train_config`)."""
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
    """LightGBM params from `config` as given (`PDEstimator.fit` first applies `scaled_to_rows`)."""
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
