"""Split rules: out-of-time by snapshot or date share, stratified random otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import DataValidationError, InvalidConfig
from features.split import SplitConfig, random_split, snapshot_split, time_fraction_split


def _snapshots(n_dates: int, per: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-03-01", periods=n_dates, freq="3MS")
    f = pd.DataFrame(
        {
            "observation_date": np.repeat(dates, per),
            "default": pd.array(rng.random(n_dates * per) < 0.1, dtype="Int8"),
            "is_current": False,
        }
    )
    cur = pd.DataFrame(
        {
            "observation_date": [dates[-1] + pd.DateOffset(months=6)] * per,
            "default": pd.array([pd.NA] * per, dtype="Int8"),
            "is_current": True,
        }
    )
    return pd.concat([f, cur], ignore_index=True)


def test_snapshot_split_is_out_of_time():
    f = _snapshots(4)
    s = snapshot_split(f, SplitConfig(0.2, 0.2, test_periods=1, seed=42))
    by = f.assign(split=s).groupby("split")["observation_date"].agg(["min", "max"])
    assert by.at["train", "max"] < by.at["validation", "min"]
    assert by.at["validation", "max"] < by.at["test", "min"]
    assert (s[f["is_current"]] == "score").all()
    assert set(s) == {"train", "validation", "test", "score"}


def test_two_snapshots_carve_validation_from_train():
    f = _snapshots(2)
    s = snapshot_split(
        f, SplitConfig(validation_fraction=0.25, test_fraction=0.2, test_periods=1, seed=42)
    )
    first = f["observation_date"] == f["observation_date"].min()
    assert set(s[first]) == {"train", "validation"}
    assert (s[~first & ~f["is_current"]] == "test").all()


def test_random_split_is_stratified_and_seeded():
    y = pd.array((np.arange(5000) % 10 == 0).astype(int), dtype="Int8")
    f = pd.DataFrame({"default": y, "observation_date": pd.NaT})
    s = random_split(f, SplitConfig(0.2, 0.3, test_periods=1, seed=1))
    rates = f.assign(split=s, d=f["default"].astype(float)).groupby("split")["d"].mean()
    assert np.allclose(rates, 0.1, atol=0.005)
    assert (s == "test").mean() == pytest.approx(0.3, abs=0.01)
    assert s.equals(random_split(f, SplitConfig(0.2, 0.3, test_periods=1, seed=1)))
    assert not s.equals(random_split(f, SplitConfig(0.2, 0.3, test_periods=1, seed=2)))


def test_time_fraction_split_puts_latest_rows_in_test():
    rng = np.random.default_rng(0)
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, 3000), unit="D")
    f = pd.DataFrame(
        {"observation_date": dates, "default": pd.array(rng.random(3000) < 0.2, dtype="Int8")}
    )
    s = time_fraction_split(f, SplitConfig(0.2, 0.2, test_periods=1, seed=42))
    assert f["observation_date"][s == "test"].min() > f["observation_date"][s != "test"].max()
    assert (s == "test").mean() == pytest.approx(0.2, abs=0.02)
    assert (s == "validation").mean() == pytest.approx(0.2, abs=0.02)


@pytest.mark.parametrize(("validation", "test"), [(0.5, 0.45), (0.45, 0.45), (1.2, 0.1)])
def test_fractions_must_leave_training_rows(validation, test):
    """The library rule ties the two shares; ranges of each are the params reader's."""
    with pytest.raises(InvalidConfig, match="at least 10% for training") as err:
        SplitConfig(validation_fraction=validation, test_fraction=test, test_periods=1, seed=1)
    assert err.value.field == ""


def test_snapshot_split_puts_the_latest_test_periods_dates_in_test():
    f = _snapshots(7)
    s = snapshot_split(f, SplitConfig(0.2, 0.2, test_periods=3, seed=42))
    dates = np.sort(f.loc[~f["is_current"], "observation_date"].unique())
    by_date = f.assign(split=s)[~f["is_current"]].groupby("observation_date")["split"].unique()
    assert [list(by_date[d]) for d in dates] == [["train"]] * 3 + [["validation"]] + [["test"]] * 3
    assert (s[f["is_current"]] == "score").all()


def test_test_periods_plus_one_dates_carve_validation_from_the_earliest():
    f = _snapshots(4)
    s = snapshot_split(f, SplitConfig(0.25, 0.2, test_periods=3, seed=42))
    first = f["observation_date"] == f["observation_date"].min()
    assert set(s[first]) == {"train", "validation"}
    assert (s[~first & ~f["is_current"]] == "test").all()


@pytest.mark.parametrize(("n_dates", "test_periods"), [(3, 3), (1, 1), (2, 3)])
def test_too_few_dates_for_test_periods_fail_naming_both_counts(n_dates, test_periods):
    f = _snapshots(n_dates)
    with pytest.raises(DataValidationError) as err:
        snapshot_split(f, SplitConfig(0.2, 0.2, test_periods=test_periods, seed=42))
    message = str(err.value)
    assert f"at least {test_periods + 1} labelled observation dates" in message
    assert f"the book has {n_dates}" in message
    assert "observation_date" in message


def test_test_periods_must_be_positive():
    with pytest.raises(InvalidConfig, match="at least 1") as err:
        SplitConfig(0.2, 0.2, test_periods=0, seed=1)
    assert err.value.field == "test_periods"
