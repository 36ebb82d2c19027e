"""A book given as a lender would: the built-in book written out as CSV files with the lender's
own column names, and the `data.history` params that read it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.synthetic import SyntheticConfig, generate_book

#: Our name -> the "lender's" column name used in the exported files.
RENAMES = {
    "account_id": "acct_no",
    "open_date": "opened",
    "statement_date": "cycle_end",
    "days_past_due": "dpd",
    "outstanding_balance": "balance",
    "paid_amount": "paid",
    "bill_amount": "billed",
    "min_due": "minimum",
    "overdue_amount": "arrears",
    "payment_date": "paid_on",
    "due_date": "due_on",
    "instalment_plans": "plans",
    "credit_limit": "limit",
    "income_band": "income",
    "timezone": "tz",
    "effective_date": "effective",
    "observation_date": "as_of",
    "default": "bad",
}
FLAG_RENAMES = {
    "dispute": "in_dispute",
    "hardship": "hardship_flag",
    "opt_out": "no_calls",
    "deceased": "rip",
}


def small_book(n: int = 800, seed: int = 3) -> Any:
    cfg = SyntheticConfig(
        n_customers=n,
        months=24,
        start_date="2024-01-01",
        observation_months=[9, 12, 15, 18],
        outcome_months=6,
        seed=seed,
    )
    return generate_book(cfg)


def export_history(
    book: Any,
    out: Path,
    drop_statement_columns: tuple[str, ...] = (),
    with_labels: bool = True,
    with_attributes: bool = True,
) -> dict[str, Path]:
    """Write the book's customers, statements, attributes and labelled observations as CSV
    files under `out`, columns renamed as a lender would name them."""
    out.mkdir(parents=True, exist_ok=True)
    customers = book.customers.rename(columns={"signup_date": "open_date"})
    customers = customers.rename(columns={**RENAMES, **FLAG_RENAMES})
    statements = book.statements.drop(columns=list(drop_statement_columns)).rename(columns=RENAMES)
    files = {"accounts": out / "accounts.csv", "statements": out / "statements.csv"}
    customers.to_csv(files["accounts"], index=False)
    statements.to_csv(files["statements"], index=False)
    if with_attributes:
        files["attributes"] = out / "attributes.csv"
        book.attributes.rename(columns=RENAMES).to_csv(files["attributes"], index=False)
    if with_labels:
        labelled = book.observations[~book.observations["is_current"].astype(bool)]
        files["labels"] = out / "labels.csv"
        labelled[["account_id", "observation_date", "default"]].rename(columns=RENAMES).to_csv(
            files["labels"], index=False
        )
    return files


def history_params(files: dict[str, Path], **changes: Any) -> dict[str, Any]:
    """`data.history` reading `files` (mapping every exported name back)."""
    params: dict[str, Any] = {
        "accounts": str(files["accounts"]),
        "statements": str(files["statements"]),
        "attributes": str(files["attributes"]) if "attributes" in files else None,
        "labels": str(files["labels"]) if "labels" in files else None,
        "columns": {k: v for k, v in RENAMES.items()},
        "date_format": None,
        "currency": "CNY",
        "fx_to_policy": None,
        "protected_columns": ["age_band"],
        "drop_columns": ["region"],
        "flags": dict(FLAG_RENAMES),
        "flags_absent": "refuse",
        "observation_dates": None,
        "default_definition": {
            "dpd_threshold": 90,
            "horizon_months": 6,
            "materiality_abs": 0,
            "materiality_rel": 0.0,
            "probation_months": 0,
        },
        "current_date": None,
        "overdue_when_missing": "refuse",
    }
    files_present = set(files)
    if "labels" not in files_present:
        for name in ("observation_date", "default"):
            params["columns"].pop(name)
    if "attributes" not in files_present:
        params["columns"].pop("effective_date")
    params.update(changes)
    return params


def as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})


__all__ = ["RENAMES", "FLAG_RENAMES", "export_history", "history_params", "small_book", "np"]
