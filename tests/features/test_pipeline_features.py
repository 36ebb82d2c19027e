"""The features stage end to end on the generated book and on a loan table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from features.catalogue import Catalogue, to_model_frame
from features.errors import ConfigError
from features.quality import LeakageError
from pipelines.features import FeaturesConfig, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synthetic_raw(tmp_path_factory):
    from features.synthetic import SyntheticConfig, generate_book

    raw = tmp_path_factory.mktemp("raw")
    book = generate_book(SyntheticConfig(n_customers=6000, seed=3))
    book.customers.to_parquet(raw / "customers.parquet")
    book.statements.to_parquet(raw / "statements.parquet")
    book.observations.to_parquet(raw / "observations.parquet")
    (raw / "meta.json").write_text(json.dumps({"source": "synthetic", "protected_columns": []}))
    return raw


def test_synthetic_book_strongest_features_are_delinquency_history(synthetic_raw, tmp_path):
    out, report = tmp_path / "features", tmp_path / "reports" / "data_quality.json"
    summary = run(synthetic_raw, out, report, FeaturesConfig())
    frame = pd.read_parquet(out / "features.parquet")
    cat = Catalogue.from_dict(json.loads((out / "catalogue.json").read_text()))
    assert list(frame.columns[:4]) == ["account_id", "observation_date", "default", "split"]
    assert set(frame["split"]) == {"train", "validation", "test", "score"}
    assert frame.loc[frame["split"] == "score", "default"].isna().all()
    assert frame.loc[frame["split"] != "score", "default"].notna().all()
    model = to_model_frame(frame, cat)
    assert model.shape == (len(frame), len(cat.features))
    top = [r["feature"] for r in summary["features"][:5]]
    history = ("dpd", "delinquen", "late_payments", "payment_ratio")
    assert all(any(h in f for h in history) for f in top), top
    assert summary["max_auc"] < 0.95  # leakage guard silent on the built-in book
    assert (report.with_suffix(".csv")).exists()
    rep = json.loads(report.read_text())
    assert {"missing_rate", "distinct", "iv", "auc", "psi"} <= set(rep["features"][0])


def _table_raw(tmp_path: Path, leaky: bool) -> Path:
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.random(n) < 0.15
    loans = pd.DataFrame(
        {
            "account_id": [str(i) for i in range(n)],
            "observation_date": pd.Timestamp("2019-01-01") + pd.to_timedelta(np.arange(n), "D"),
            "default": pd.array(y, dtype="Int8"),
            "income": rng.lognormal(10, 0.5, n),
            "dti": y * 5 + rng.normal(20, 8, n),
            "purpose": rng.choice(["car", "home", "debt"], n),
            "sex": rng.choice(["f", "m"], n),
        }
    )
    if leaky:
        loans["recoveries"] = np.where(y, rng.uniform(100, 900, n), 0.0)
    raw = tmp_path / "raw"
    raw.mkdir()
    loans.to_parquet(raw / "loans.parquet")
    (raw / "meta.json").write_text(json.dumps({"source": "table", "protected_columns": ["sex"]}))
    return raw


def test_table_source_out_of_time_with_protected(tmp_path):
    raw = _table_raw(tmp_path, leaky=False)
    summary = run(raw, tmp_path / "f", tmp_path / "dq.json", FeaturesConfig())
    frame = pd.read_parquet(tmp_path / "f" / "features.parquet")
    cat = json.loads((tmp_path / "f" / "catalogue.json").read_text())
    assert [f["name"] for f in cat["features"]] == ["income", "dti", "purpose"]
    assert cat["protected"] == ["protected__sex"] and "protected__sex" in frame
    test_dates = frame.loc[frame["split"] == "test", "observation_date"]
    assert test_dates.min() > frame.loc[frame["split"] != "test", "observation_date"].max()
    assert summary["comparison_split"] == "test"


def test_leaky_column_stops_the_stage_and_keeps_old_outputs(tmp_path):
    raw = _table_raw(tmp_path, leaky=True)
    out = tmp_path / "f"
    out.mkdir()
    (out / "features.parquet").write_text("previous good output")
    with pytest.raises(LeakageError, match="recoveries"):
        run(raw, out, tmp_path / "dq.json", FeaturesConfig())
    assert (out / "features.parquet").read_text() == "previous good output"
    assert (tmp_path / "dq.json").exists()  # the report explains the stop
    ok = run(raw, out, tmp_path / "dq.json", FeaturesConfig(allow_leaky_features=("recoveries",)))
    assert ok["features"][0]["feature"] == "recoveries"


def test_config_validation():
    with pytest.raises(ConfigError, match="leakage_auc_threshold"):
        FeaturesConfig.from_params({"features": {"leakage_auc_threshold": 0.3}})
    with pytest.raises(ConfigError, match="features.windows"):
        FeaturesConfig.from_params({"features": {"windows": [0, 3]}})
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    cfg = FeaturesConfig.from_params(params)
    assert cfg.windows == (3, 6, 12) and cfg.split.seed == params["seed"]


def test_cli_reports_clean_error(tmp_path):
    raw = _table_raw(tmp_path, leaky=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.features",
            "--raw-dir",
            str(raw),
            "--out-dir",
            str(tmp_path / "f"),
            "--report",
            str(tmp_path / "dq.json"),
            "--params",
            str(ROOT / "params.yaml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "error: possible target leakage: 'recoveries'" in proc.stderr
    assert "Traceback" not in proc.stderr
