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
        "models.explain.report" in c.source for c in code
    )  # thin: logic lives in the package


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
