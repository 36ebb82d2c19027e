"""The features stage: reads raw tables, writes the table, catalogue, reports and headline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from core.catalogue import CATALOGUE_FILE, Catalogue
from core.contracts import FEATURES, RAW_LOANS
from core.io import write_json
from features.raw import META_FILE
from tests.features.test_build import table_raw

ROOT = Path(__file__).resolve().parents[2]


def _write_raw(tmp_path: Path, leaky: bool) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    data = table_raw(leaky)
    data.tables[RAW_LOANS.file].to_parquet(raw / RAW_LOANS.file)
    write_json({"source": "table", "protected_columns": data.protected_columns}, raw / META_FILE)
    return raw


def _stage(tmp_path: Path, raw: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.features",
            "--raw-dir",
            str(raw),
            "--features-dir",
            str(tmp_path / "f"),
            "--quality-report",
            str(tmp_path / "dq.json"),
            "--quality-csv",
            str(tmp_path / "dq.csv"),
            "--headline",
            str(tmp_path / "headline" / "features.json"),
            "--params",
            str(ROOT / "params.yaml"),
        ],
        cwd=ROOT,
        env={**os.environ, "CREDITRISK_LOG_DIR": str(tmp_path / "logs")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_stage_writes_table_catalogue_reports_and_headline(tmp_path):
    proc = _stage(tmp_path, _write_raw(tmp_path, leaky=False))
    assert proc.returncode == 0, proc.stderr
    frame = FEATURES.read(tmp_path / "f" / FEATURES.file)
    cat = Catalogue.from_dict(json.loads((tmp_path / "f" / CATALOGUE_FILE).read_text()))
    assert cat.model_columns == ["income", "dti", "purpose"]
    assert len(frame) == 3000
    report = json.loads((tmp_path / "dq.json").read_text())
    assert {"missing_rate", "distinct", "iv", "auc", "psi"} <= set(report["features"][0])
    csv = pd.read_csv(tmp_path / "dq.csv")
    assert list(csv["feature"]) == [f["feature"] for f in report["features"]]
    headline = json.loads((tmp_path / "headline" / "features.json").read_text())
    assert headline == {
        "rows": 3000,
        "n_features": 3,
        "max_single_feature_auc": report["max_auc"],
        "max_psi": report["max_psi"],
    }
    assert str(tmp_path) not in (tmp_path / "dq.json").read_text()  # no absolute paths


def test_leak_stops_cleanly_keeps_old_outputs_and_explains_in_the_report(tmp_path):
    out = tmp_path / "f"
    out.mkdir()
    (out / FEATURES.file).write_text("previous good output")
    (tmp_path / "dq.json").write_text("previous good report")
    proc = _stage(tmp_path, _write_raw(tmp_path, leaky=True))
    assert proc.returncode == 1
    assert "error: possible target leakage: 'recoveries'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (out / FEATURES.file).read_text() == "previous good output"
    assert (tmp_path / "dq.json").read_text() == "previous good report"  # all or nothing
    assert not (tmp_path / "headline").exists()  # no headline for a table that was not written
    named = tmp_path / "logs" / "features.data_quality.json"
    assert f"this run's data-quality report: {named}" in proc.stderr
    report = json.loads(named.read_text())  # the report beside the log explains the stop
    assert report["features"][0]["feature"] == "recoveries"
    assert report["features"][0]["leak_suspect"] is True


def test_missing_raw_data_names_the_stage_to_run(tmp_path):
    proc = _stage(tmp_path, tmp_path / "no_raw")
    assert proc.returncode == 1
    assert "run the ingest stage first" in proc.stderr and "Traceback" not in proc.stderr
