"""`python -m pipelines.ingest` on a small book: files by contract, reports, clean config errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from core.contracts import (
    MACRO,
    RAW_ATTRIBUTES,
    RAW_CUSTOMERS,
    RAW_OBSERVATIONS,
    RAW_STATEMENTS,
    TRUE_PD,
)
from features.raw import META_FILE, REJECTS_FILE
from tests.helpers import REPO


def _run(tmp_path: Path, **synthetic: object) -> subprocess.CompletedProcess[str]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["source"] = "synthetic"
    params["data"]["synthetic"].update(synthetic)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.ingest",
            "--params",
            str(tmp_path / "params.yaml"),
            "--raw-dir",
            str(tmp_path / "raw"),
            "--truth-dir",
            str(tmp_path / "truth"),
            "--summary",
            str(tmp_path / "reports" / "ingest.json"),
            "--headline",
            str(tmp_path / "reports" / "headline" / "ingest.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_stage_writes_contract_files_summary_and_headline(tmp_path):
    proc = _run(tmp_path, n_customers=200)
    assert proc.returncode == 0, proc.stderr
    raw = tmp_path / "raw"
    for contract in (RAW_CUSTOMERS, RAW_STATEMENTS, RAW_OBSERVATIONS, RAW_ATTRIBUTES):
        contract.read(raw / contract.file)
    assert len(pd.read_parquet(raw / REJECTS_FILE)) == 0
    macro = pd.read_parquet(tmp_path / "truth" / MACRO.file)  # truth, beside true_pd
    assert list(macro.columns) == ["month", "macro_factor"] and len(macro) > 0
    assert not (raw / MACRO.file).exists()
    meta = json.loads((raw / META_FILE).read_text())
    assert meta["synthetic"]["n_customers"] == 200
    truth = TRUE_PD.read(tmp_path / "truth" / TRUE_PD.file)
    assert len(truth) > 0
    summary_text = (tmp_path / "reports" / "ingest.json").read_text()
    summary = json.loads(summary_text)
    headline = json.loads((tmp_path / "reports" / "headline" / "ingest.json").read_text())
    assert headline == {
        "rows_in": summary["rows_in"],
        "rows_kept": summary["rows_kept"],
        "rows_rejected": 0,
        "default_rate": summary["default_rate"],
    }
    assert str(tmp_path) not in summary_text  # no absolute paths in the tracked report


def test_a_params_typo_is_one_line_naming_the_key(tmp_path):
    proc = _run(tmp_path, n_customer=200)
    assert proc.returncode == 1
    assert "data.synthetic.n_customer: is not a known key" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "raw").exists()
