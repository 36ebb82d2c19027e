"""The `tiers` section reader: exact keys, typed values, the shared rules for policy and mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from collection_policy.tiering import TiersConfig
from core.errors import ConfigError
from pipelines.params import load_params
from pipelines.params.tiers import TIERS_KEYS, read_tiers

REPO = Path(__file__).resolve().parents[2]


def _params(tmp_path: Path, **tiers: object):
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["tiers"] = {**data["tiers"], "policy": str(REPO / "configs/collection_policy.yaml")}
    data["tiers"].update(tiers)
    for key in [k for k, v in tiers.items() if v is _DROP]:
        del data["tiers"][key]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_params(path)


_DROP = object()


def test_the_shipped_params():
    config = read_tiers(load_params(REPO / "params.yaml"))
    shipped = yaml.safe_load((REPO / "params.yaml").read_text())["tiers"]
    assert isinstance(config, TiersConfig)
    assert set(shipped) == set(TIERS_KEYS)
    assert config.policy == Path(shipped["policy"])
    assert (config.mode, config.backtest_split) == (shipped["mode"], shipped["backtest_split"])


def test_history_file_is_a_path_or_null(tmp_path):
    assert read_tiers(_params(tmp_path, history_file=None)).history_file is None
    log = read_tiers(_params(tmp_path, history_file="log.parquet")).history_file
    assert log == Path("log.parquet")


def test_score_file_is_a_path_or_null(tmp_path):
    assert read_tiers(_params(tmp_path, score_file=None)).score_file is None
    assert read_tiers(_params(tmp_path, score_file="book.parquet")).score_file == Path(
        "book.parquet"
    )


@pytest.mark.parametrize(
    "change,message",
    [
        ({"mode": "fast"}, "tiers.mode: expected one of"),
        ({"policy": "no/such/policy.yaml"}, "tiers.policy: file not found"),
        ({"policy": 3}, "tiers.policy: expected a non-empty string"),
        ({"score_file": 5}, "tiers.score_file: expected a non-empty string"),
        ({"backtest_split": "score"}, "tiers.backtest_split: expected one of"),
        ({"bakctest_split": "test"}, "tiers.bakctest_split: is not a known key"),
        ({"backtest_split": _DROP}, "tiers.backtest_split: is required"),
    ],
)
def test_bad_values_fail_with_the_key_named(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        read_tiers(_params(tmp_path, **change))


PARAMS_EXPERIMENT = {
    "holdout_share": 0.1,
    "challenger_share": 0.2,
    "seed": 17,
    "holdout_tier": 1,
    "level": 0.9,
}


def test_experiment_params_are_read_strictly(tmp_path):
    from pipelines.params.tiers import read_experiment
    from tests.pipelines.params_helpers import edited_params

    config = read_experiment(edited_params(tmp_path))
    assert (config.holdout_share, config.challenger_share, config.holdout_tier) == (0.1, 0.2, 1)
    with pytest.raises(ConfigError, match="tiers.experiment"):
        read_experiment(edited_params(tmp_path, tiers__experiment={"holdout_share": 0.1}))
    bad = dict(PARAMS_EXPERIMENT, holdout_share=0.6, challenger_share=0.5)
    with pytest.raises(ConfigError, match="tiers.experiment"):
        read_experiment(edited_params(tmp_path, tiers__experiment=bad))
