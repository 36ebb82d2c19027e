"""The engine's vocabulary agrees with the one declaration of the policy inputs."""

from __future__ import annotations

from collection_policy.engine import ACCOUNT_COLUMNS, FLAG_INPUTS, NUMERIC_INPUTS
from collection_policy.vocabulary import DERIVED_FIELDS, FIELDS, resolve_timezone
from core.contracts import POLICY_INPUTS


def test_every_non_text_policy_input_is_a_rule_field_of_its_kind():
    kinds = {"int": "integer", "float": "number", "bool": "bool"}
    for p in POLICY_INPUTS:
        if p.dtype == "str":
            assert p.name not in FIELDS
            continue
        spec = FIELDS[p.name]
        assert spec.kind == kinds[p.dtype] and spec.description == p.description
        if spec.kind != "bool":
            assert spec.lo == 0.0  # amounts and day counts; the engine rejects negatives
    assert {"pd", "score", "grade"} <= set(FIELDS)
    assert set(FIELDS) - {"pd", "score", "grade", *DERIVED_FIELDS} == {
        p.name for p in POLICY_INPUTS if p.dtype != "str"
    }
    assert all(FIELDS[f].kind == "bool" for f in DERIVED_FIELDS)


def test_engine_inputs_follow_the_contract():
    assert list(ACCOUNT_COLUMNS) == ["pd", "score", "grade", *(p.name for p in POLICY_INPUTS)]
    assert tuple(p.name for p in POLICY_INPUTS if p.dtype == "bool") == FLAG_INPUTS
    assert NUMERIC_INPUTS == (
        "pd",
        "days_past_due",
        "overdue_amount",
        "outstanding_balance",
        "delinquency_episodes",
        "broken_promises",
    )


def test_resolve_timezone():
    assert resolve_timezone("Asia/Shanghai") is not None
    assert resolve_timezone("Not/AZone") is None and resolve_timezone(None) is None
