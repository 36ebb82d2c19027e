"""End to end: `dvc repro ingest` in a temp copy of the repo, synthetic and table sources."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import set_params, subprocess_env

pytestmark = pytest.mark.slow


def _dvc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(PYTHONPATH=str(repo))
    return subprocess.run(
        ["dvc", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )


def test_dvc_repro_ingest_synthetic_then_failed_table_run_keeps_outputs(repo_copy: Path):
    set_params(repo_copy, {"data.synthetic.n_customers": 800})
    run = _dvc(repo_copy, "repro", "ingest")
    assert run.returncode == 0, run.stderr + run.stdout
    summary = json.loads((repo_copy / "reports/ingest.json").read_text())
    assert summary["rows_rejected"] == 0 and summary["rows_in"] == summary["rows_kept"] > 800
    headline = json.loads((repo_copy / "reports/headline/ingest.json").read_text())
    assert headline == {
        k: summary[k] for k in ("rows_in", "rows_kept", "rows_rejected", "default_rate")
    }
    shown = _dvc(repo_copy, "metrics", "show", "--json")
    assert shown.returncode == 0 and "reports/headline/ingest.json" in shown.stdout
    assert "reports/ingest.json" not in shown.stdout  # the detailed summary is a plain output
    assert str(repo_copy) not in (repo_copy / "reports/ingest.json").read_text()
    obs = pd.read_parquet(repo_copy / "data/raw/observations.parquet")
    assert obs["is_current"].any() and obs.loc[~obs["is_current"], "default"].notna().all()
    assert (
        len(pd.read_parquet(repo_copy / "data/truth/true_pd.parquet")) == (~obs["is_current"]).sum()
    )
    before = (repo_copy / "data/raw/statements.parquet/part-0000.parquet").read_bytes()

    # a failing run (missing file) explains itself in one line and leaves the last good outputs
    set_params(repo_copy, {"data.source": "table", "data.table.path": "data/external/missing.csv"})
    failed = _dvc(repo_copy, "repro", "ingest")
    assert failed.returncode != 0
    assert "file 'data/external/missing.csv': file not found" in failed.stderr + failed.stdout
    assert "Traceback" not in failed.stderr
    assert (repo_copy / "data/raw/statements.parquet/part-0000.parquet").read_bytes() == before


def test_dvc_repro_ingest_table_source(repo_copy: Path):
    ext = repo_copy / "data/external"
    ext.mkdir(parents=True, exist_ok=True)  # the repo copy may carry the folder's .gitkeep
    n = 300
    pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "amount": [1000 + 7 * i for i in range(n)],
            "purpose": ["car", "home", "other"] * (n // 3),
            "status": ["Charged Off" if i % 9 == 0 else "Fully Paid" for i in range(n)],
        }
    ).to_csv(ext / "loans.csv", index=False)
    set_params(
        repo_copy,
        {
            "data.source": "table",
            "data.table.path": "data/external/loans.csv",
            "data.table.target_column": "status",
            "data.table.id_column": "id",
        },
    )
    run = _dvc(repo_copy, "repro", "ingest")
    assert run.returncode == 0, run.stderr + run.stdout
    loans = pd.read_parquet(repo_copy / "data/raw/loans.parquet")
    assert len(loans) == n and loans["default"].sum() == 34
    meta = json.loads((repo_copy / "data/raw/meta.json").read_text())
    assert meta["source"] == "table"
