"""Readers of params.yaml `data` and `ingest`: exact keys, typed values, one message shape."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import ConfigError
from features.loan_table import TableConfig
from features.synthetic import SyntheticConfig
from pipelines.params import load_params
from pipelines.params.data import read_data, read_ingest, read_synthetic, read_table_source
from tests.pipelines.params_helpers import DELETE, PARAMS, edited_params

REPO = Path(__file__).resolve().parents[2]


_params = edited_params


def _fails(params, reader, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        reader(params)


def test_the_real_params_file_parses():
    params = load_params(REPO / "params.yaml")
    cfg = read_ingest(params)
    synthetic = PARAMS["data"]["synthetic"]
    assert isinstance(cfg.source, SyntheticConfig) and cfg.source_name == "synthetic"
    assert cfg.source.n_customers == synthetic["n_customers"]
    assert cfg.source.observation_months == tuple(synthetic["observation_months"])
    assert cfg.source.seed == PARAMS["seed"]
    assert cfg.max_reject_fraction == PARAMS["ingest"]["max_reject_fraction"]
    table = read_table_source(params)  # checked even when not selected
    assert table.path == PARAMS["data"]["table"]["path"] and table.id_column is None


def test_source_selects_the_config(tmp_path):
    params = _params(tmp_path, data__source="table")
    assert isinstance(read_data(params), TableConfig)
    assert read_ingest(params).source_name == "table"
    _fails(_params(tmp_path, data__source="sql"), read_data, "data.source: expected one of")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data__synthetic__n_customer": 10}, "data.synthetic.n_customer: is not a known key"),
        ({"data__table__id_col": "id"}, "data.table.id_col: is not a known key"),
        ({"data__extra": 1}, "data.extra: is not a known key"),
        ({"ingest__max_rejects": 0.1}, "ingest.max_rejects: is not a known key"),
        ({"data__synthetic__months": DELETE}, "data.synthetic.months: is required"),
        ({"data__table__id_column": DELETE}, "data.table.id_column: is required"),
        ({"ingest__max_reject_fraction": DELETE}, "ingest.max_reject_fraction: is required"),
    ],
)
def test_typos_and_missing_keys_fail_naming_the_key(tmp_path, change, message):
    _fails(_params(tmp_path, **change), read_ingest, message)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"data__synthetic__n_customers": "many"},
            "data.synthetic.n_customers: expected an integer, got 'many'",
        ),
        (
            {"data__synthetic__n_customers": 5},
            "data.synthetic.n_customers: expected an integer in [10, inf], got 5",
        ),
        (
            {"data__synthetic__observation_months": 9},
            "data.synthetic.observation_months: expected a list of integers, got 9",
        ),
        (
            {"data__synthetic__outcome_months": "6"},
            "data.synthetic.outcome_months: expected an integer, got '6'",
        ),
        (
            {"ingest__max_reject_fraction": True},
            "ingest.max_reject_fraction: expected a number, got True",
        ),
        (
            {"ingest__max_reject_fraction": 2},
            "ingest.max_reject_fraction: expected a finite number in [0, 1], got 2",
        ),
        ({"seed": True}, "seed: expected an integer, got True"),
        (
            {"data__table__drop_columns": "recoveries"},
            "data.table.drop_columns: expected a list of strings, got 'recoveries'",
        ),
        (
            {"data__table__positive_values": []},
            "data.table.positive_values: expected null or a non-empty list of values, got []",
        ),
        ({"data__table__id_column": 3}, "data.table.id_column: expected a non-empty string, got 3"),
    ],
)
def test_wrong_types_fail_with_the_message_shape(tmp_path, change, message):
    params = _params(tmp_path, **change)
    with pytest.raises(ConfigError) as err:
        read_ingest(params)
    assert str(err.value) == f"{tmp_path / 'params.yaml'}: {message}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"data__synthetic__observation_months": [9, 12]},
            "data.synthetic.observation_months: must list at least 3 distinct",
        ),
        (
            {"data__synthetic__observation_months": [9, 12, 32]},
            "data.synthetic.observation_months: last date + outcome_months (6)",
        ),
        ({"data__synthetic__start_date": "someday"}, "data.synthetic.start_date: must be a date"),
        ({"data__table__path": "loans.xlsx"}, "data.table.path: must be a .csv or .parquet file"),
        (
            {"data__table__drop_columns": ["sex"], "data__table__protected_columns": ["sex"]},
            "data.table.protected_columns: must not also be listed in drop_columns",
        ),
    ],
)
def test_library_rules_come_back_with_the_params_key(tmp_path, change, message):
    _fails(_params(tmp_path, **change), read_ingest, message)


def test_nullable_table_keys_are_present_and_null(tmp_path):
    params = _params(
        tmp_path,
        data__table__positive_values=None,
        data__table__id_column=None,
        data__table__date_column=None,
    )
    cfg = read_table_source(params)
    assert (cfg.positive_values, cfg.id_column, cfg.date_column) == (None, None, None)
    numeric = read_table_source(_params(tmp_path, data__table__positive_values=[2, "3"]))
    assert numeric.positive_values == ("2", "3")


def test_synthetic_reader_alone_uses_the_seed(tmp_path):
    assert read_synthetic(_params(tmp_path, seed=7)).seed == 7
