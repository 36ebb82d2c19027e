"""features.labels: labels from a stated default definition, on hand-made histories whose
answers can be read off the page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DataValidationError, InvalidConfig
from features.labels import DefaultDefinition, default_events, derive_labels


def definition(**changes: object) -> DefaultDefinition:
    base = {
        "dpd_threshold": 90,
        "horizon_months": 6,
        "materiality_abs": 0.0,
        "materiality_rel": 0.0,
        "probation_months": 0,
    }
    base.update(changes)
    return DefaultDefinition(**base)  # type: ignore[arg-type]


def history(dpds: dict[str, list[int]], start: str = "2024-01-01", overdue: float = 500.0):
    """Monthly statements on the 1st from `start`, one list of DPD per account."""
    rows = []
    for account, values in dpds.items():
        for i, dpd in enumerate(values):
            rows.append(
                {
                    "account_id": account,
                    "statement_date": pd.Timestamp(start) + pd.DateOffset(months=i),
                    "days_past_due": dpd,
                    "overdue_amount": overdue if dpd > 0 else 0.0,
                    "outstanding_balance": 1000.0,
                }
            )
    return pd.DataFrame(rows)


def observe(accounts: list[str], date: str) -> pd.DataFrame:
    return pd.DataFrame({"account_id": accounts, "observation_date": pd.Timestamp(date)})


def statuses(statements, observations, d) -> dict[str, str]:
    frame = derive_labels(statements, observations, d).frame
    return dict(zip(frame["account_id"], frame["status"], strict=True))


# month index:         0   1   2   3   4   5   6   7   8   9  10  11  12  13  14  15  16  17
HANDMADE = {
    "early": [0, 0, 0, 30, 60, 95, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # default in month 5
    "late": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 30, 60, 95, 0, 0, 0, 0, 0],  # default in month 12
    "never": [0] * 18,
    "cured": [30, 60, 95, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # defaulted, cured in 3
    "now": [0, 0, 30, 60, 95, 95, 95, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # in default at month 5
}


def test_a_12_month_horizon_and_3_month_probation_change_the_counts_as_defined():
    st = history(HANDMADE)
    obs = observe(list(HANDMADE), "2024-05-01")  # month 4: statements 0..3 before it
    six = statuses(st, obs, definition())
    assert six == {
        "early": "defaulted",  # 95 in month 5, inside months 4..9
        "late": "performing",  # its default (month 12) is past a 6-month horizon
        "never": "performing",
        "cured": "performing",  # its default (month 2) is before the date; no probation
        "now": "defaulted",  # 95 in month 4 (the observation month) counts as the future
    }
    twelve = statuses(st, obs, definition(horizon_months=12))
    assert twelve["late"] == "defaulted" and twelve["early"] == "defaulted"
    probation = statuses(st, obs, definition(horizon_months=12, probation_months=3))
    assert probation["cured"] == "in_default"  # month 2 is within the 3 months before month 4
    assert probation["late"] == "defaulted" and probation["never"] == "performing"
    # at month 7 "now" was still at 95 in month 6: in default whatever the probation
    later = statuses(st, observe(["now"], "2024-08-01"), definition())
    assert later == {"now": "in_default"}


def test_the_horizon_running_past_the_data_is_censored_unless_the_default_is_seen():
    st = history(HANDMADE)  # months 0..17: 2024-01 .. 2025-06
    obs = observe(["never", "late"], "2024-12-01")  # month 11
    assert statuses(st, obs, definition(horizon_months=6)) == {
        "never": "performing",  # months 11..16 covered
        "late": "defaulted",
    }
    long = statuses(st, obs, definition(horizon_months=12))  # needs months 11..22
    assert long == {"never": "censored", "late": "defaulted"}


def test_materiality_needs_a_material_overdue_amount():
    st = history({"small": [0, 0, 95, 95], "big": [0, 0, 95, 95]})
    st.loc[st["account_id"] == "small", "overdue_amount"] = 40.0
    obs = observe(["small", "big"], "2024-02-01")
    d = definition(horizon_months=2, materiality_abs=100.0)
    assert statuses(st, obs, d) == {"small": "performing", "big": "defaulted"}
    relative = definition(horizon_months=2, materiality_rel=0.6)  # 500 of 1000 is 50%
    assert statuses(st, obs, relative) == {"small": "performing", "big": "performing"}
    with pytest.raises(DataValidationError, match="overdue_amount.*materiality"):
        default_events(st.drop(columns="overdue_amount"), d)


def test_the_definition_refuses_a_second_threshold_and_bad_values():
    with pytest.raises(InvalidConfig, match="dpd_threshold"):
        definition(dpd_threshold=60)
    with pytest.raises(InvalidConfig, match="materiality_rel"):
        definition(materiality_rel=1.5)
    text = definition(horizon_months=12, materiality_abs=100, probation_months=3).text("HKD")
    assert text.startswith("90+ days past due on an overdue amount of at least 100 HKD within 12")
    assert "3 months of probation" in text


def test_statements_on_the_observation_date_are_the_future_not_the_past():
    """A statement dated on the observation date is an outcome, never what the account looked
    like at the date (the features' point-in-time rule)."""
    st = history({"a": [0, 95]})  # 95 dated 2024-02-01
    assert statuses(st, observe(["a"], "2024-02-01"), definition(horizon_months=1)) == {
        "a": "defaulted"
    }
    assert statuses(st, observe(["a"], "2024-02-02"), definition(horizon_months=1)) == {
        "a": "in_default"
    }


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([0, 15, 45, 75, 95, 130]), min_size=1, max_size=20),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 19),
    st.integers(1, 12),
    st.integers(0, 6),
)
def test_labels_agree_with_a_row_by_row_reading_of_the_definition(dpds, month, horizon, probation):
    accounts = {f"a{i}": values for i, values in enumerate(dpds)}
    st_ = history(accounts)
    date = pd.Timestamp("2024-01-01") + pd.DateOffset(months=month)
    obs = observe(list(accounts), str(date.date()))
    d = definition(horizon_months=horizon, probation_months=probation)
    got = statuses(st_, obs, d)
    last = max(len(v) for v in accounts.values()) - 1
    for account, values in accounts.items():
        before = values[:month]
        recent = values[max(0, month - probation) : month] if probation else []
        if (before and before[-1] >= 90) or any(v >= 90 for v in recent):
            want = "in_default"
        elif any(v >= 90 for v in values[month : month + horizon]):
            want = "defaulted"
        elif last < month + horizon - 1:
            want = "censored"
        else:
            want = "performing"
        assert got[account] == want, (account, values, month, horizon, probation)
    labels = derive_labels(st_, obs, d).frame
    assert labels["default"].isna().to_numpy().tolist() == [
        s in ("in_default", "censored") for s in labels["status"]
    ]
    assert np.all(labels["default"].dropna().isin([0, 1]))
