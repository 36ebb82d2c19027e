"""The `tiers` section of params.yaml -> `collection_policy.tiering.TiersConfig`."""

from __future__ import annotations

from pathlib import Path

from collection_policy.experiment import ExperimentConfig
from collection_policy.tiering import TiersConfig
from core.contracts import LABELLED_SPLITS
from core.errors import InvalidConfig
from pipelines.params import Params
from pipelines.params.shared import policy_path, tier_mode

TIERS_KEYS: tuple[str, ...] = (
    "policy",
    "mode",
    "score_file",
    "backtest_split",
    "history_file",
    "experiment",
)
EXPERIMENT_KEYS: tuple[str, ...] = (
    "holdout_share",
    "challenger_share",
    "seed",
    "holdout_tier",
    "level",
)


def read_tiers(params: Params) -> TiersConfig:
    """The tiers stage's settings; `policy` and `mode` follow the rules shared with `register`."""
    sec = params.section("tiers", keys=TIERS_KEYS)
    score_file = sec.optional_string("score_file")
    history_file = sec.optional_string("history_file")
    return TiersConfig(
        policy=policy_path(sec),
        mode=tier_mode(sec),
        score_file=None if score_file is None else Path(score_file),
        backtest_split=sec.choice("backtest_split", LABELLED_SPLITS),
        history_file=None if history_file is None else Path(history_file),
    )


def read_experiment(params: Params) -> ExperimentConfig:
    """tiers.experiment: the random holdout and challenger arms beside the champion rules."""
    sec = params.section("tiers", keys=TIERS_KEYS).section("experiment", keys=EXPERIMENT_KEYS)
    try:
        return ExperimentConfig(
            holdout_share=sec.number("holdout_share", lo=0, hi=1, hi_open=True),
            challenger_share=sec.number("challenger_share", lo=0, hi=1, hi_open=True),
            seed=sec.integer("seed", lo=0, hi=2**32 - 1),
            holdout_tier=sec.integer("holdout_tier", lo=0, hi=5),
            level=sec.number("level", lo=0.5, hi=1, hi_open=True),
        )
    except InvalidConfig as exc:  # rules across keys (the shares leave a champion arm)
        key = "tiers.experiment" + (f".{exc.field}" if exc.field else "")
        raise params.parser.fail(key, exc.rule, exc.value) from None
