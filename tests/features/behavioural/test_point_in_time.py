"""The point-in-time index on its own: what counts as known before a date, at the boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.behavioural.point_in_time import attribute_history, prepare

D = pd.Timestamp


def _statements(account: int, dates: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"account_id": account, "statement_date": [D(d) for d in dates]})


def test_history_is_strictly_before_the_date_and_windows_start_on_their_first_day():
    statements = pd.concat(
        [
            _statements(1, ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]),
            _statements(2, ["2024-03-15"]),
        ],
        ignore_index=True,
    ).sample(frac=1.0, random_state=0)  # any row order
    observations = pd.DataFrame(
        {
            "account_id": [1, 1, 2, 3],
            "observation_date": [
                D("2024-04-01"),
                D("2024-04-02"),
                D("2024-03-15"),
                D("2024-05-01"),
            ],
        }
    )
    prep = prepare(statements, observations, [2])
    hist = prep.hist
    # a statement dated on the observation date is not yet known
    np.testing.assert_array_equal(hist.count(None), [3, 4, 0, 0])
    # the 2-month window of 2024-04-01 starts with the statement of 2024-02-01 (inclusive)
    np.testing.assert_array_equal(hist.count(2), [2, 2, 0, 0])
    np.testing.assert_array_equal(hist.has_history, [True, True, False, False])
    ordered = prep.stmt["statement_date"].to_numpy()
    assert (prep.stmt["account_id"].to_numpy() == [1, 1, 1, 1, 2]).all()
    assert (np.diff(ordered[:4]) > np.timedelta64(0)).all()
    np.testing.assert_array_equal(hist.last(np.arange(5.0)), [2.0, 3.0, np.nan, np.nan])


def test_an_attribute_is_in_force_from_the_day_after_its_effective_date():
    attributes = pd.DataFrame(
        {
            "account_id": [1, 1, 2, 9],  # 9: an account the book does not know, unused
            "effective_date": [D("2024-01-10"), D("2024-03-01"), D("2024-02-01"), D("2024-01-01")],
            "credit_limit": [1000.0, 2000.0, 500.0, 7.0],
            "income_band": ["low", "mid", "high", "low"],
        }
    )
    accounts = pd.Index([1, 2, 3])
    as_of = attribute_history(attributes, accounts)
    codes = np.array([0, 0, 0, 1, 2])
    day = pd.DatetimeIndex(["2024-01-10", "2024-03-01", "2024-03-02", "2024-05-01", "2024-05-01"])
    days = day.values.astype("datetime64[D]").astype(np.int64)
    pos = as_of.position(codes, days)
    np.testing.assert_array_equal(
        as_of.values("credit_limit", pos), [np.nan, 1000.0, 2000.0, 500.0, np.nan]
    )
    assert list(as_of.values("income_band", pos)[1:4]) == ["low", "mid", "high"]
