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
