"""The `train` section of params.yaml -> `models.train_config.TrainConfig`.

Every key is stated in params.yaml (no defaults here or in the library); this reader holds the
type and range rules of each one, so a typo or a wrong value fails with one message shape.
"""

from __future__ import annotations

from core.config import Section
from models.calibration import METHODS
from models.distributed import DaskConfig
from models.scaling import MasterScale, ScoreScaling
from models.train_config import SmallTableRule, TrainConfig
from pipelines.params import Params

TRAIN_KEYS: tuple[str, ...] = (
    "objective",
    "learning_rate",
    "num_leaves",
    "max_depth",
    "min_child_samples",
    "feature_fraction",
    "bagging_fraction",
    "bagging_freq",
    "lambda_l1",
    "lambda_l2",
    "min_gain_to_split",
    "cat_smooth",
    "min_data_per_group",
    "max_cat_to_onehot",
    "path_smooth",
    "extra_trees",
    "num_boost_round",
    "early_stopping_rounds",
    "num_threads",
    "monotone_constraints",
    "monotone_method",
    "calibration",
    "calibration_fraction",
    "pd_floor",
    "baseline_max_rows",
    "max_train_rows",
    "small_table",
    "dask",
    "scaling",
    "grades",
)
SCALING_KEYS: tuple[str, ...] = ("base_points", "base_odds", "pdo")
SMALL_TABLE_KEYS: tuple[str, ...] = (
    "min_child_share",
    "min_child_floor",
    "rows_per_leaf",
    "feature_fraction",
    "extra_trees",
)
DASK_KEYS: tuple[str, ...] = ("time_out_minutes", "retries")
OBJECTIVES: tuple[str, ...] = ("binary", "cross_entropy")
MONOTONE_METHODS: tuple[str, ...] = ("basic", "intermediate", "advanced")


def read_train(params: Params) -> TrainConfig:
    """train: LightGBM, calibration, baseline, points scale and master scale; plus `seed`."""
    sec = params.section("train", keys=TRAIN_KEYS)
    monotone = sec.boolean("monotone_constraints")
    path_smooth = sec.number("path_smooth", lo=0)
    if monotone and path_smooth > 0:
        # Measured with LightGBM 4.7: path smoothing let a constrained feature step backwards.
        raise params.parser.fail(
            sec.path("path_smooth"), "must be 0 when monotone_constraints is on", path_smooth
        )
    return TrainConfig(
        objective=sec.choice("objective", OBJECTIVES),
        learning_rate=sec.number("learning_rate", lo=0, hi=1, lo_open=True),
        num_leaves=sec.integer("num_leaves", lo=2),
        max_depth=sec.integer("max_depth", lo=-1),  # <= 0: no limit
        min_child_samples=sec.integer("min_child_samples", lo=1),
        feature_fraction=sec.number("feature_fraction", lo=0, hi=1, lo_open=True),
        bagging_fraction=sec.number("bagging_fraction", lo=0, hi=1, lo_open=True),
        bagging_freq=sec.integer("bagging_freq", lo=0),
        lambda_l1=sec.number("lambda_l1", lo=0),
        lambda_l2=sec.number("lambda_l2", lo=0),
        min_gain_to_split=sec.number("min_gain_to_split", lo=0),
        cat_smooth=sec.number("cat_smooth", lo=0),
        min_data_per_group=sec.integer("min_data_per_group", lo=1),
        max_cat_to_onehot=sec.integer("max_cat_to_onehot", lo=1),
        path_smooth=path_smooth,
        extra_trees=sec.boolean("extra_trees"),
        num_boost_round=sec.integer("num_boost_round", lo=1),
        early_stopping_rounds=sec.integer("early_stopping_rounds", lo=1),
        num_threads=sec.integer("num_threads", lo=0),  # 0 = all cores
        monotone_constraints=monotone,
        monotone_method=sec.choice("monotone_method", MONOTONE_METHODS),
        calibration=sec.choice("calibration", METHODS),
        calibration_fraction=sec.number(
            "calibration_fraction", lo=0, hi=1, lo_open=True, hi_open=True
        ),
        pd_floor=sec.number("pd_floor", lo=0, hi=0.5, lo_open=True, hi_open=True),
        baseline_max_rows=sec.integer("baseline_max_rows", lo=1000),
        max_train_rows=sec.optional_integer("max_train_rows", lo=1000),
        small_table=_small_table(sec.section("small_table", keys=SMALL_TABLE_KEYS)),
        scaling=_scaling(sec.section("scaling", keys=SCALING_KEYS)),
        grades=_grades(sec),
        dask=_dask(sec.section("dask", keys=DASK_KEYS)),
        seed=params.seed(),
    )


def _small_table(sec: Section) -> SmallTableRule:
    """train.small_table: how num_leaves / min_child_samples / min_data_per_group /
    feature_fraction / extra_trees change with the training rows (`models.train_config.SmallTableRule`).
    """
    return SmallTableRule(
        min_child_share=sec.number("min_child_share", lo=0, hi=1, lo_open=True, hi_open=True),
        min_child_floor=sec.integer("min_child_floor", lo=1),
        rows_per_leaf=sec.integer("rows_per_leaf", lo=1),
        feature_fraction=sec.number("feature_fraction", lo=0, hi=1, lo_open=True),
        extra_trees=sec.boolean("extra_trees"),
    )


def _scaling(sec: Section) -> ScoreScaling:
    """train.scaling: `base_points` at `base_odds` good:bad, `pdo` points to double the odds."""
    return ScoreScaling(
        base_points=sec.number("base_points"),
        base_odds=sec.number("base_odds", lo=0, lo_open=True),
        pdo=sec.number("pdo", lo=0, lo_open=True),
    )


def _dask(sec: Section) -> DaskConfig:
    """train.dask: LightGBM's network time-out (minutes) and refits after a lost worker."""
    return DaskConfig(
        time_out_minutes=sec.integer("time_out_minutes", lo=1),
        retries=sec.integer("retries", lo=0),
    )


def _grades(sec: Section) -> MasterScale:
    """train.grades: grade -> upper PD bound, best grade first, the last bound 1.0.

    Key order is the grade order, so a tool that rewrites params.yaml with sorted keys
    ("1", "10", "11", "2") breaks the scale loudly here ("must increase") rather than silently.
    """
    key = sec.path("grades")
    parser = sec.parser
    grades = parser.mapping(sec.raw("grades"), key)
    names = tuple(parser.string(name, key) for name in grades)
    bounds = tuple(
        parser.number(bound, f"{key}.{name}", lo=0, hi=1, lo_open=True)
        for name, bound in grades.items()
    )
    try:
        return MasterScale(names=names, upper_bounds=bounds)
    except ValueError as exc:  # the scale's own rules: order, last bound, at least one grade
        raise parser.fail(key, str(exc)) from None
