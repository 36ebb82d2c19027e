"""The monitor stage's wiring: the pipeline's own outputs, a newer scored file without retraining,
and a protected column named in params but absent from the data (an error, never a silent skip)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.errors import ConfigError
from pipelines import monitor as monitor_stage
from tests.models.conftest import make_catalogue, make_feature_table, write_feature_dir
from tests.models.train_helpers import fast_train_config, train_and_register
from tests.pipelines.params_helpers import edited_params


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A small book, trained (no registry): (features dir, scores file)."""
    root = tmp_path_factory.mktemp("monitor")
    fdir, truth = write_feature_dir(root, make_feature_table(n=4000, seed=11), make_catalogue())
    run = train_and_register(root, fdir, truth, fast_train_config())
    return fdir, run.paths.train.scores


def _args(tmp_path: Path, fdir: Path, scores: Path, **extra: object) -> object:
    params = edited_params(tmp_path, monitor__protected=extra.pop("protected", []))
    argv = [
        "--params",
        params.source,
        "--scores",
        str(scores),
        "--features-dir",
        str(fdir),
        "--tiers",
        "",
        "--raw-dir",
        "",
        "--monitoring",
        str(tmp_path / "out" / "monitoring.json"),
        "--fairness",
        str(tmp_path / "out" / "fairness.json"),
        "--dashboard-dir",
        str(tmp_path / "out" / "monitoring"),
        "--headline",
        str(tmp_path / "out" / "headline.json"),
    ]
    for key, value in extra.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def _monitor(argv: list[str]) -> None:
    monitor_stage.STAGE.invoke(monitor_stage.main, argv)


def test_stage_on_the_pipeline_outputs(tmp_path, trained):
    fdir, scores = trained
    _monitor(_args(tmp_path, fdir, scores))
    out = tmp_path / "out"
    doc = json.loads((out / "monitoring.json").read_text())
    splits = {s for p in doc["periods"] for s in p["splits"]}
    assert {"train", "test", "score"} <= splits  # every scored month, development included
    assert set(json.loads((out / "headline.json").read_text())) == {
        "worst_psi",
        "worst_oe",
        "red_count",
        "min_adverse_impact_ratio",
    }
    page = (out / "monitoring" / "report.html").read_text()
    assert "<img" in page and "https://" not in page


def test_a_newer_scored_file_is_monitored_without_retraining(tmp_path, trained):
    fdir, scores = trained
    table = pd.read_parquet(fdir / "features.parquet")
    newer = table[table["split"] == "test"].copy()
    newer["observation_date"] = pd.Timestamp("2030-06-01")  # a month after training
    scored = pd.read_parquet(scores).set_index(["account_id", "observation_date"])
    keys = list(zip(newer["account_id"], table.loc[newer.index, "observation_date"], strict=True))
    file = newer[["account_id", "observation_date"]].assign(
        pd=scored.loc[keys, "pd"].to_numpy(), grade=scored.loc[keys, "grade"].to_numpy()
    )
    file.to_csv(tmp_path / "scored.csv", index=False)
    newer.drop(columns=["split", "default"]).to_parquet(tmp_path / "features.parquet")
    args = _args(
        tmp_path,
        fdir,
        scores,
        current=tmp_path / "scored.csv",
        current_features=tmp_path / "features.parquet",
    )
    _monitor(args)
    doc = json.loads((tmp_path / "out" / "monitoring.json").read_text())
    assert [p["period"] for p in doc["periods"]] == ["2030-06"]
    assert doc["periods"][0]["auc"] is None  # no labels yet: stability only
    assert doc["periods"][0]["score_psi"] is not None
    assert {f["feature"] for f in doc["features"]} >= {"utilisation", "months_on_book"}


def test_scored_rows_without_their_feature_rows_are_an_error(tmp_path, trained):
    fdir, scores = trained
    file = pd.read_parquet(scores).head(50)[["account_id", "observation_date", "pd", "grade"]]
    file.to_parquet(tmp_path / "scored.parquet")
    other = pd.read_parquet(fdir / "features.parquet").tail(50)
    other.to_parquet(tmp_path / "features.parquet")
    args = _args(
        tmp_path,
        fdir,
        scores,
        current=tmp_path / "scored.parquet",
        current_features=tmp_path / "features.parquet",
    )
    with pytest.raises(Exception, match="no feature row with the same keys"):
        _monitor(args)


def test_a_protected_column_missing_from_the_data_is_an_error(tmp_path, trained):
    fdir, scores = trained
    with pytest.raises(ConfigError, match="monitor.protected: column\\(s\\) \\['protected__age"):
        _monitor(_args(tmp_path, fdir, scores, protected=["protected__age_band"]))
    assert not (tmp_path / "out" / "monitoring.json").exists()  # nothing half-written
