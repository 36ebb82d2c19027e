"""params.yaml readers for a loan table (issue 16): roles, booleans, typos, the new keys."""

from __future__ import annotations

import re

import pytest

from core.errors import ConfigError
from pipelines.params.data import read_ingest, read_table_source
from pipelines.params.features import read_features
from tests.pipelines.params_helpers import PARAMS, edited_params


def _fails(params, reader, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        reader(params)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"data__table__id_column": "loan_status"},
            "params.yaml: data.table.id_column: must name a different column from "
            "target_column, got 'loan_status'",
        ),
        (
            {"data__table__date_column": "loan_status"},
            "params.yaml: data.table.date_column: must name a different column from "
            "target_column, got 'loan_status'",
        ),
        (
            {"data__table__id_column": "loan_id", "data__table__date_column": "loan_id"},
            "params.yaml: data.table.date_column: must name a different column from id_column",
        ),
        (
            {"data__table__negative_values": "Fully Paid"},
            "params.yaml: data.table.negative_values: expected null or a non-empty list",
        ),
        (
            {"data__table__date_format": "%d/%m/%Y"},
            "params.yaml: data.table.date_format: needs date_column",
        ),
        (
            {"data__table__group_column": ""},
            "params.yaml: data.table.group_column: expected a non-empty string",
        ),
    ],
)
def test_table_roles_and_new_keys_fail_in_the_reader(tmp_path, changes, message):
    _fails(edited_params(tmp_path, **changes), read_table_source, message)


def test_new_table_keys_are_stated_in_params_yaml(tmp_path):
    table = PARAMS["data"]["table"]
    assert {"negative_values", "date_format", "group_column"} <= set(table)
    cfg = read_table_source(
        edited_params(
            tmp_path,
            data__table__negative_values=["Fully Paid"],
            data__table__date_column="issue_d",
            data__table__date_format="%d/%m/%Y",
            data__table__group_column="member_id",
        )
    )
    assert cfg.negative_values == ("Fully Paid",) and cfg.group_column == "member_id"
    assert cfg.date_format == "%d/%m/%Y"


def test_a_boolean_reject_fraction_is_not_a_number(tmp_path):
    _fails(
        edited_params(tmp_path, ingest__max_reject_fraction=True),
        read_ingest,
        "params.yaml: ingest.max_reject_fraction: expected a number, got True",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"features__leakage_auc_treshold": 0.9},
        {"features__split__test_fracton": 0.2},
    ],
)
def test_a_typo_under_features_fails(tmp_path, changes):
    with pytest.raises(ConfigError, match="is not a known key"):
        read_features(edited_params(tmp_path, **changes))
