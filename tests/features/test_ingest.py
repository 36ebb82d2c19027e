"""Ingest library: validated raw tables by contract, rejects, truth, summary, and reading back."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest

from core.contracts import (
    MACRO,
    RAW_ATTRIBUTES,
    RAW_CUSTOMERS,
    RAW_LOANS,
    RAW_OBSERVATIONS,
    RAW_STATEMENTS,
    TRUE_PD,
)
from core.errors import DataValidationError, PipelineError
from core.io import write_json
from core.schema import REJECT_COLUMNS
from features.ingest import IngestConfig, ingest_synthetic, run_ingest
from features.raw import META_FILE, read_raw
from tests.features.configs import synthetic_config, table_config


@pytest.fixture(scope="module")
def synthetic():
    cfg = synthetic_config(n_customers=300, seed=5)
    return cfg, run_ingest(IngestConfig(source=cfg, max_reject_fraction=0.2))


def _write(result, raw: Path) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    for file, table in result.tables.items():
        table.to_parquet(raw / file, index=False)
    write_json(result.meta, raw / META_FILE)
    return raw


def test_synthetic_tables_follow_their_contracts(synthetic):
    cfg, result = synthetic
    raw = (RAW_CUSTOMERS, RAW_STATEMENTS, RAW_OBSERVATIONS, RAW_ATTRIBUTES)
    assert list(result.tables) == [contract.file for contract in raw]
    for contract in raw:
        contract.check(result.tables[contract.file], contract.file)
    TRUE_PD.check(result.true_pd, TRUE_PD.file)
    # the macro factor is truth beside true_pd, one row per month, never a raw table
    macro = result.truth[MACRO.file]
    assert list(macro.columns) == ["month", "macro_factor"]
    assert len(macro) == cfg.months + cfg.outcome_months
    assert MACRO.file not in result.tables
    assert list(result.rejects.columns) == REJECT_COLUMNS and len(result.rejects) == 0
    assert all(str(dtype) == "string" for dtype in result.rejects.dtypes)
    assert result.meta["synthetic"] == asdict(cfg) and result.meta["source"] == "synthetic"
    assert result.meta["files"] == list(result.tables)


def test_summary_and_headline_count_rows(synthetic):
    _, result = synthetic
    tables = result.summary["tables"]
    assert tables["customers"]["rows_in"] == 300
    assert result.summary["rows_in"] == sum(t["rows_in"] for t in tables.values())
    assert result.summary["rows_kept"] == sum(len(t) for t in result.tables.values())
    assert result.headline == {
        "rows_in": result.summary["rows_in"],
        "rows_kept": result.summary["rows_kept"],
        "rows_rejected": 0,
        "default_rate": result.summary["default_rate"],
    }
    assert 0 < result.headline["default_rate"] < 0.2


def _loans_csv(tmp_path: Path, n: int = 60, missing_targets: int = 0) -> Path:
    status = ["Charged Off" if i % 5 == 0 else "Fully Paid" for i in range(n)]
    for i in range(missing_targets):
        status[i + 1] = None
    path = tmp_path / "loans.csv"
    pd.DataFrame({"id": [f"L{i}" for i in range(n)], "amount": range(n), "status": status}).to_csv(
        path, index=False
    )
    return path


def test_table_source_keeps_usable_rows_and_writes_empty_truth(tmp_path):
    path = _loans_csv(tmp_path, missing_targets=3)
    cfg = table_config(path=str(path), target_column="status", id_column="id")
    result = run_ingest(IngestConfig(source=cfg, max_reject_fraction=0.2))
    loans = result.tables[RAW_LOANS.file]
    RAW_LOANS.check(loans, RAW_LOANS.file)
    assert len(loans) == 57 and len(result.rejects) == 3
    assert set(result.rejects["_rule"]) == {"target value missing"}
    assert result.summary["rejected_by_rule"] == {"loans: status: target value missing": 3}
    assert len(result.true_pd) == 0
    TRUE_PD.check(result.true_pd, TRUE_PD.file)
    assert result.meta["source"] == "table" and result.meta["files"] == [RAW_LOANS.file]


def test_too_many_rejects_stop_the_run(tmp_path):
    path = _loans_csv(tmp_path, missing_targets=20)
    cfg = table_config(path=str(path), target_column="status", id_column="id")
    with pytest.raises(DataValidationError, match="ingest.max_reject_fraction=0.2"):
        run_ingest(IngestConfig(source=cfg, max_reject_fraction=0.2))


def test_read_raw_reads_back_through_the_contracts(synthetic, tmp_path):
    _, result = synthetic
    raw = read_raw(_write(result, tmp_path / "raw"))
    assert raw.source == "synthetic" and raw.protected_columns == []
    for file, table in result.tables.items():
        pd.testing.assert_frame_equal(raw.tables[file], table)


def test_read_raw_names_what_is_missing(synthetic, tmp_path):
    with pytest.raises(DataValidationError, match="run the ingest stage first"):
        read_raw(tmp_path / "nothing")
    _, result = synthetic
    raw = _write(result, tmp_path / "raw")
    (raw / RAW_STATEMENTS.file).unlink()
    with pytest.raises(PipelineError, match="statements.parquet' not found; run the ingest"):
        read_raw(raw)
    write_json({"source": "sql"}, raw / META_FILE)
    with pytest.raises(DataValidationError, match="unknown source 'sql'"):
        read_raw(raw)


def test_ingest_synthetic_is_deterministic():
    cfg = synthetic_config(n_customers=100, seed=9)
    first, again = ingest_synthetic(cfg, 0.2), ingest_synthetic(cfg, 0.2)
    for file in first.tables:
        pd.testing.assert_frame_equal(first.tables[file], again.tables[file])
