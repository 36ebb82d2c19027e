"""The reviewer notebook runs against a run's outputs and is stored without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "review_explanations.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert any(
        "models.explain.notebook" in c.source for c in code
    )  # thin: logic lives in the package
    # no loops or branches of its own: what a reviewer sees is tested in the package
    assert not any(
        line.lstrip().startswith(("if ", "def ", "class "))
        for c in code
        for line in c.source.splitlines()
    )


@pytest.mark.slow
def test_notebook_executes_against_run_outputs(explain_run, monkeypatch):
    from nbclient import NotebookClient

    root, _ = explain_run
    monkeypatch.setenv("CREDIT_REPO_DIR", str(root))
    monkeypatch.delenv("CREDIT_ACCOUNT_ID", raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5  # four global plots + the account's waterfall
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert "explained rows" in text and "account 1" in text


def test_helpers_the_notebook_calls(explain_run):
    from models.explain.notebook import GLOBAL_PLOTS, load_outputs

    root, summary = explain_run
    out = load_outputs(root)
    assert out.describe().startswith(f"{summary['rows']:,} explained rows")
    assert [p.stem for p in out.global_plots()] == list(GLOBAL_PLOTS)
    account = out.choose_account(None)  # the highest-PD explained account
    assert isinstance(account, int) and account in set(out.shap["account_id"])
    assert out.choose_account(str(account)) == account  # an environment variable is text
    reasons = out.account_reasons(account)
    assert not reasons.empty and reasons["rank"].is_monotonic_increasing
    fig = out.waterfall(account)
    assert fig.axes[0].get_title() == f"Account {account}"


def test_helpers_keep_text_ids_of_a_loan_table(explain_run, tmp_path):
    """A loan table's ids are text, even when they look like numbers: never turned into int."""
    import shutil

    import pandas as pd

    from models.explain.notebook import load_outputs

    root, _ = explain_run
    shutil.copytree(root / "data", tmp_path / "data")
    shutil.copytree(root / "reports", tmp_path / "reports")
    for rel in (
        "data/explanations/shap_values.parquet",
        "data/explanations/reasons.parquet",
        "data/scores/scores.parquet",
        "data/features/features.parquet",
    ):
        frame = pd.read_parquet(tmp_path / rel)
        frame["account_id"] = frame["account_id"].astype(str)
        frame.to_parquet(tmp_path / rel, index=False)
    out = load_outputs(tmp_path)
    account = out.choose_account(None)
    assert isinstance(account, str) and account in set(out.shap["account_id"])
    assert out.choose_account(account) == account  # digits, but the table's ids are text
    assert not out.account_reasons(account).empty
    assert out.model_row(account).index.tolist() == out.features
    assert out.waterfall(account).axes[0].get_title() == f"Account {account}"
