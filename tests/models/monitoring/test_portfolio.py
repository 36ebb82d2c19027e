from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.dpd import BUCKET_LABELS, bucket_index
from models.monitoring.portfolio import (
    roll_rates,
    vintage_curves,
    vintage_dict,
)


def statements(rows: list[tuple[int, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "statement_date": pd.to_datetime([r[1] + "-01" for r in rows]),
            "days_past_due": np.array([r[2] for r in rows], dtype=np.int16),
        }
    )


#: A (opened Jan): 90+ in March; B (opened Feb): never; C (opened Jan): 90+ in April;
#: D opened before the history: left out.
VINTAGE_ROWS = [
    (1, "2024-01", 0), (1, "2024-02", 30), (1, "2024-03", 95), (1, "2024-04", 0),
    (2, "2024-02", 0), (2, "2024-03", 0), (2, "2024-04", 0),
    (3, "2024-01", 0), (3, "2024-02", 0), (3, "2024-03", 60), (3, "2024-04", 100),
    (4, "2024-01", 120), (4, "2024-02", 150),
]  # fmt: skip
ACCOUNTS = pd.DataFrame(
    {
        "account_id": [1, 2, 3, 4],
        "signup_date": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-01-20", "2023-06-01"]),
    }
)


def test_vintage_by_month_equals_a_hand_count() -> None:
    curves = vintage_curves(statements(VINTAGE_ROWS), ACCOUNTS, freq="M")
    got = {c["cohort"]: c for c in vintage_dict(curves)}
    assert set(got) == {"2024-01", "2024-02"}  # D, opened in 2023, is left out
    assert got["2024-01"]["accounts"] == 2
    # mob 0..3: A turns 90+ at mob 2, C at mob 3
    assert got["2024-01"]["cum_default_rate"] == [0.0, 0.0, 0.5, 1.0]
    # B reaches mob 2 by April and never defaults
    assert got["2024-02"]["cum_default_rate"] == [0.0, 0.0, 0.0]


def test_vintage_by_quarter_stops_where_every_account_has_been_seen() -> None:
    curves = vintage_curves(statements(VINTAGE_ROWS), ACCOUNTS, freq="Q")
    (q1,) = vintage_dict(curves)
    assert q1["cohort"] == "2024Q1" and q1["accounts"] == 3
    # B opened in Feb has reached mob 2 by April: the curve stops there; C's default at mob 3
    # is beyond it
    assert q1["cum_default_rate"] == pytest.approx([0.0, 0.0, 1 / 3])


def test_vintage_without_open_dates_uses_the_first_statement() -> None:
    curves = vintage_curves(statements(VINTAGE_ROWS), None, freq="M")
    got = {c["cohort"]: c for c in vintage_dict(curves)}
    # accounts billed from the first month may be older than the history: no cohort
    assert set(got) == {"2024-02"}
    assert got["2024-02"]["accounts"] == 1


def test_vintage_curves_never_fall() -> None:
    rng = np.random.default_rng(5)
    n_acc, months = 400, 18
    rows = []
    open_month = rng.integers(0, 12, n_acc)
    for a in range(n_acc):  # building the input only; the function itself is vectorised
        for m in range(open_month[a], months):
            rows.append(
                (a, f"{2024 + m // 12}-{m % 12 + 1:02d}", int(rng.choice([0, 0, 0, 35, 95])))
            )
    st = statements(rows)
    acc = pd.DataFrame(
        {
            "account_id": np.arange(n_acc),
            "signup_date": pd.to_datetime(
                [f"{2024 + m // 12}-{m % 12 + 1:02d}-15" for m in open_month]
            ),
        }
    )
    curves = vintage_curves(st, acc, freq="Q")
    assert curves["cohort"].nunique() == 4
    for _, sub in curves.groupby("cohort"):
        rates = sub.sort_values("months_on_book")["cum_default_rate"].to_numpy()
        assert np.all(np.diff(rates) >= 0)
        assert rates[-1] > 0


def test_dpd_buckets_edges() -> None:
    got = bucket_index([0, 1, 30, 31, 60, 61, 89, 90, 200])
    assert list(got) == [0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert BUCKET_LABELS == ("current", "1-30", "31-60", "61-89", "90+")


def test_roll_rates_match_a_three_account_example() -> None:
    rows = [
        (1, "2024-01", 0), (1, "2024-02", 15), (1, "2024-03", 45),
        (2, "2024-01", 0), (2, "2024-02", 0), (2, "2024-04", 0),  # Feb -> Apr: a gap
        (3, "2024-01", 95), (3, "2024-02", 0), (3, "2024-03", 70),
    ]  # fmt: skip
    shuffled = statements(rows).sample(frac=1.0, random_state=3)  # order must not matter
    out = roll_rates(shuffled, months=None)
    counts = np.array(out["counts"])
    expected = np.zeros((5, 5), dtype=int)
    expected[0, 1] = 1  # 1: current -> 1-30
    expected[1, 2] = 1  # 1: 1-30 -> 31-60
    expected[0, 0] = 1  # 2: current -> current (Feb -> Apr is no transition)
    expected[4, 0] = 1  # 3: 90+ -> current
    expected[0, 3] = 1  # 3: current -> 61-89
    assert (counts == expected).all()
    assert out["transitions"] == 5
    assert out["rates"][0] == pytest.approx([1 / 3, 1 / 3, 0.0, 1 / 3, 0.0])
    assert out["rates"][2] is None and out["rates"][3] is None
    for row in out["rates"]:
        if row is not None:
            assert sum(row) == pytest.approx(1.0)
    assert (out["from_month"], out["to_month"]) == ("2024-01", "2024-03")


def test_roll_rates_keep_the_last_months() -> None:
    rows = [(1, "2024-01", 0), (1, "2024-02", 40), (1, "2024-03", 0)]
    out = roll_rates(statements(rows), months=1)
    assert out["transitions"] == 1
    assert out["counts"][2][0] == 1  # only Feb -> Mar kept


def test_row_order_never_changes_the_portfolio_views() -> None:
    """The ingest order (each account one run, months rising) takes a path with no sort; any
    other order is sorted first. Both give the same vintages and roll rates."""
    rng = np.random.default_rng(11)
    rows = []
    for a in range(300):
        opened = int(rng.integers(0, 10))
        months = [m for m in range(opened, 16) if rng.random() > 0.1]  # some gaps
        for m in months:
            dpd = int(rng.choice([0, 0, 0, 10, 45, 75, 95, 130]))
            rows.append((1000 + a, f"{2024 + m // 12}-{m % 12 + 1:02d}", dpd))
    ordered = statements(rows)
    shuffled = ordered.sample(frac=1.0, random_state=4).reset_index(drop=True)
    accounts = pd.DataFrame(
        {
            "account_id": 1000 + np.arange(300),
            "signup_date": pd.to_datetime("2023-11-15")
            + pd.to_timedelta(rng.integers(0, 400, 300), unit="D"),
        }
    )
    for months in (None, 3):
        assert roll_rates(ordered, months) == roll_rates(shuffled, months)
    assert roll_rates(ordered, None)["transitions"] > 1000
    for acc in (accounts, None):
        a = vintage_curves(ordered, acc, freq="M")
        b = vintage_curves(shuffled, acc, freq="M")
        pd.testing.assert_frame_equal(a, b)
        assert a["defaulted"].max() > 0


def test_a_history_read_bucket_by_bucket_gives_the_whole_historys_views() -> None:
    """portfolio_views over buckets of accounts (as the ingest stage writes them) equals
    vintage_curves and roll_rates of the whole table, window included."""
    from models.monitoring.portfolio import portfolio_views

    rng = np.random.default_rng(21)
    rows = []
    for a in range(400):
        opened = int(rng.integers(0, 10))
        for m in range(opened, 18):
            rows.append(
                (a, f"{2024 + m // 12}-{m % 12 + 1:02d}", int(rng.choice([0, 0, 20, 50, 95])))
            )
    whole = statements(rows)
    accounts = pd.DataFrame(
        {
            "account_id": np.arange(400),
            "signup_date": pd.to_datetime("2023-12-10")
            + pd.to_timedelta(rng.integers(0, 300, 400), unit="D"),
        }
    )
    buckets = [
        (whole[whole["account_id"] % 4 == k], accounts[accounts["account_id"] % 4 == k])
        for k in range(4)
    ]
    vintage, rolls = portfolio_views(buckets, freq="M", roll_months=5)
    pd.testing.assert_frame_equal(vintage, vintage_curves(whole, accounts, freq="M"))
    assert rolls == roll_rates(whole, 5) and rolls["transitions"] > 0
    # a bucket whose accounts ended early: its own window is older, the whole one still rules
    short = [(b[0][b[0]["statement_date"] < "2025-03-01"], b[1]) if k == 0 else b
             for k, b in enumerate(buckets)]  # fmt: skip
    joined = pd.concat([s for s, _ in short])
    assert portfolio_views(short, freq="M", roll_months=5)[1] == roll_rates(joined, 5)
