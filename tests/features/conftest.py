"""Tiny hand-made credit books following docs/data_contracts.md, independent of the generator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_book(
    n_accounts: int = 12, months: int = 14, seed: int = 0, obs_months: tuple[int, ...] = (6, 9, 12)
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """customers, statements, observations with random delinquency, gaps in start months."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    ids = np.arange(1000, 1000 + n_accounts, dtype=np.int64)
    first_month = rng.integers(0, 5, n_accounts)
    customers = pd.DataFrame(
        {
            "account_id": ids,
            "signup_date": [
                start + pd.DateOffset(months=int(m)) - pd.Timedelta(days=10) for m in first_month
            ],
            "age_band": rng.choice(["18-24", "25-34", "35-44", "45-54", "55+"], n_accounts),
            "city_tier": rng.integers(1, 5, n_accounts).astype(np.int8),
            "income_band": rng.choice(["low", "mid", "high", "very_high"], n_accounts),
            "credit_limit": rng.choice([5000.0, 10000.0, 20000.0], n_accounts),
            "channel": rng.choice(["app", "web", "partner"], n_accounts),
            "region": rng.choice(["east", "west"], n_accounts),
            "timezone": "Asia/Shanghai",
            "dispute": rng.random(n_accounts) < 0.2,
            "hardship": False,
            "opt_out": False,
            "deceased": False,
        }
    )
    rows = []
    for i, acc in enumerate(ids):
        dpd = 0
        for m in range(int(first_month[i]), months):
            sdate = start + pd.DateOffset(months=m)
            bill = float(rng.gamma(2.0, 800.0))
            min_due = round(0.1 * bill, 2)
            paid = float(rng.choice([0.0, min_due, bill, 0.5 * min_due]))
            late_days = int(rng.choice([-5, 0, 3, 40]))
            pdate = (
                sdate - pd.Timedelta(days=15) + pd.Timedelta(days=late_days) if paid > 0 else pd.NaT
            )
            dpd = dpd + 30 if rng.random() < 0.25 else 0
            rows.append(
                {
                    "account_id": acc,
                    "statement_date": sdate,
                    "due_date": sdate + pd.Timedelta(days=20),
                    "bill_amount": bill,
                    "min_due": min_due,
                    "paid_amount": paid,
                    "payment_date": pdate,
                    "days_past_due": np.int16(dpd),
                    "overdue_amount": float(dpd / 30 * min_due),
                    "outstanding_balance": float(rng.uniform(0, 1.2)) * 10000.0,
                    "instalment_plans": np.int8(rng.integers(0, 3)),
                }
            )
    statements = pd.DataFrame(rows)
    statements["days_past_due"] = statements["days_past_due"].astype("int16")
    statements["instalment_plans"] = statements["instalment_plans"].astype("int8")
    obs = []
    for m in obs_months:
        for acc in ids:
            obs.append(
                {
                    "account_id": acc,
                    "observation_date": start + pd.DateOffset(months=m),
                    "default": int(rng.random() < 0.3),
                    "is_current": False,
                }
            )
    for acc in ids:
        obs.append(
            {
                "account_id": acc,
                "observation_date": start + pd.DateOffset(months=months),
                "default": None,
                "is_current": True,
            }
        )
    observations = pd.DataFrame(obs)
    observations["default"] = observations["default"].astype("Int8")
    return customers, statements, observations


@pytest.fixture
def book():
    return make_book()


@pytest.fixture(scope="session")
def book_factory():
    """The `make_book` function (test modules cannot import conftest under importlib mode)."""
    return make_book
