"""Reader of the `features` section of params.yaml (the features stage)."""

from __future__ import annotations

from features.build import FeaturesConfig
from features.split import SplitConfig
from pipelines.params import Params, build_config

FEATURES_KEYS = (
    "windows",
    "max_lookback_months",
    "leakage_auc_threshold",
    "allow_leaky_features",
    "date_parts",
    "max_categories",
    "split",
)
SPLIT_KEYS = ("validation_fraction", "test_fraction", "test_periods")


def read_split(params: Params) -> SplitConfig:
    """features.split and seed: held-out shares, out-of-time test dates, the seed of every draw."""
    sec = params.section("features", FEATURES_KEYS).section("split", SPLIT_KEYS)
    return build_config(
        sec,
        SplitConfig,
        validation_fraction=sec.number(
            "validation_fraction", lo=0, hi=1, lo_open=True, hi_open=True
        ),
        test_fraction=sec.number("test_fraction", lo=0, hi=1, lo_open=True, hi_open=True),
        test_periods=sec.integer("test_periods", lo=1),
        seed=params.seed(),
    )


def read_features(params: Params) -> FeaturesConfig:
    """The features stage's config."""
    sec = params.section("features", FEATURES_KEYS)
    return build_config(
        sec,
        FeaturesConfig,
        windows=tuple(sorted(set(sec.int_list("windows", lo=1, hi=60)))),
        max_lookback_months=sec.integer("max_lookback_months", lo=1, hi=120),
        leakage_auc_threshold=sec.number("leakage_auc_threshold", lo=0.5, hi=1, lo_open=True),
        allow_leaky_features=tuple(sec.str_list("allow_leaky_features")),
        date_parts=sec.boolean("date_parts"),
        max_categories=sec.integer("max_categories", lo=2),
        split=read_split(params),
    )
