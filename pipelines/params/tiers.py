"""The `tiers` section of params.yaml -> `collection_policy.book.TiersConfig`."""

from __future__ import annotations

from pathlib import Path

from collection_policy.book import TiersConfig
from features.contracts import LABELLED_SPLITS
from pipelines.params import Params
from pipelines.params.shared import policy_path, tier_mode

TIERS_KEYS: tuple[str, ...] = ("policy", "mode", "score_file", "backtest_split")


def read_tiers(params: Params) -> TiersConfig:
    """The tiers stage's settings; `policy` and `mode` follow the rules shared with `register`."""
    sec = params.section("tiers", keys=TIERS_KEYS)
    score_file = sec.optional_string("score_file")
    return TiersConfig(
        policy=policy_path(sec),
        mode=tier_mode(sec),
        score_file=None if score_file is None else Path(score_file),
        backtest_split=sec.choice("backtest_split", LABELLED_SPLITS),
    )
