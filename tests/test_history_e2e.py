"""Issue 24 end to end: a lender's own repayment history through `dvc repro`, every stage.

The book: accounts + statements CSV files with the lender's own column names, one labelled date
given in a labels file, no `min_due` / `payment_date` / `instalment_plans` / `overdue_amount`,
amounts in HKD with a rate to the policy's CNY."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.features.history_helpers import export_history, history_params, small_book
from tests.helpers import copy_repo, set_params, subprocess_env

pytestmark = pytest.mark.slow

GONE = ("min_due", "payment_date", "instalment_plans", "overdue_amount")


def _run(repo: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(PYTHONPATH=str(repo))
    return subprocess.run(
        list(args), cwd=repo, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def lender_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("history") / "repo")
    book = small_book(4000, seed=13)
    files = export_history(book, repo / "data/external", drop_statement_columns=GONE)
    labels = pd.read_csv(files["labels"])
    labels[labels["as_of"] == "2025-04-01"].to_csv(files["labels"], index=False)  # one date
    params = history_params(
        {k: v.relative_to(repo) for k, v in files.items()},
        currency="HKD",
        fx_to_policy=0.92,
        overdue_when_missing="outstanding_balance",
    )
    for name in GONE:
        params["columns"].pop(name)
    set_params(repo, {"data.source": "history", "data.history": params})
    git = ("git", "-c", "user.email=t@t", "-c", "user.name=t")
    _run(repo, *git, "add", "-A")
    _run(repo, *git, "commit", "-qm", "lender book")
    run = _run(repo, "dvc", "repro")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return repo


def _json(repo: Path, name: str) -> dict:
    return json.loads((repo / "reports" / name).read_text())


def test_every_stage_runs_on_a_lenders_history(lender_run: Path):
    status = _run(lender_run, "dvc", "status", "--json")
    assert json.loads(status.stdout) == {}, status.stdout
    for report in (
        "ingest.json",
        "data_quality.json",
        "metrics.json",
        "explain.json",
        "promotion.json",
        "validation.json",
        "tiers.json",
        "monitoring.json",
    ):
        assert (lender_run / "reports" / report).is_file(), report
    ingest = _json(lender_run, "ingest.json")
    assert ingest["source"] == "history" and ingest["currency"] == "HKD"
    assert ingest["columns"]["optional_statement_columns_missing"] == [
        "min_due",
        "overdue_amount",
        "payment_date",
        "credit_limit",
        "instalment_plans",
    ]


def test_skipped_features_are_listed_and_none_is_filler(lender_run: Path):
    quality = _json(lender_run, "data_quality.json")
    skipped = {s["feature"] for s in quality["skipped_features"]}
    assert {
        "payment_ratio_min_mean_3m",
        "overdue_amount_current",
        "instalment_plans_current",
    } <= skipped
    assert quality["overdue_amount_policy_input"].startswith("outstanding balance of accounts")
    table = pd.read_parquet(lender_run / "data/features/features.parquet")
    catalogue = json.loads((lender_run / "data/features/catalogue.json").read_text())
    assert catalogue["currency"] == "HKD" and catalogue["fx_to_policy"] == 0.92
    for spec in catalogue["features"]:
        assert table[spec["name"]].nunique(dropna=True) > 1, spec["name"]


def test_one_labelled_date_is_split_by_account(lender_run: Path):
    metrics = _json(lender_run, "metrics.json")
    assert metrics["samples"]["split"].startswith("by account")
    scores = pd.read_parquet(lender_run / "data/scores/scores.parquet")
    labelled = scores[scores["split"] != "score"]
    per_account = labelled.groupby("account_id")["split"].nunique()
    assert (per_account == 1).all()  # a borrower never in two splits


def test_tiers_compare_converted_amounts_and_the_card_states_the_label(lender_run: Path):
    tiers = _json(lender_run, "tiers.json")
    assert tiers["amounts"] == {
        "book_currency": "HKD",
        "policy_currency": "CNY",
        "fx_to_policy": 0.92,
        "note": "overdue_amount and outstanding_balance converted before tiering",
    }
    validation = _json(lender_run, "validation.json")
    card = validation["model_card"]
    assert card["label_definition"] == (
        "the lender's own definition of default, labelled in data/external/labels.csv"
    )
    monitoring = _json(lender_run, "monitoring.json")
    assert monitoring["portfolio"]["vintage"]  # the accounts have an open date
