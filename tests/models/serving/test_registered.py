"""The registered champion: same answers as the pipeline in-process, from a subprocess that cannot
import the repository (code travels with the model), and through the batch-scoring CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from models.serving.pyfunc import to_request_frame

from .conftest import MODEL_NAME, REPO

pytestmark = pytest.mark.slow


def _rows(trained, n=120):
    t = trained.features
    return t[t["split"].isin(["test", "score"])].head(n).reset_index(drop=True)


def test_champion_in_process_matches_pipeline(trained_registry, pipeline_reference, same_outputs):
    import mlflow

    mlflow.set_tracking_uri(trained_registry.tracking_uri)
    model = mlflow.pyfunc.load_model(trained_registry.uri)
    rows = _rows(trained_registry)
    out = model.predict(to_request_frame(rows, trained_registry.catalogue, with_policy=True))
    same_outputs(out, pipeline_reference(trained_registry, rows))
    art = Path(model._model_impl.context.artifacts["policy"])
    assert art.read_text() == (REPO / "configs" / "collection_policy.yaml").read_text()


LOADER = r"""
import importlib.util, json, os, sys
# The repo is installed editable in this venv: drop that finder and any path into the repo.
sys.meta_path = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != sys.argv[1]]
assert importlib.util.find_spec("features") is None, "repo still importable"
assert importlib.util.find_spec("models") is None, "repo still importable"
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[2])
out = model.predict(pd.read_parquet(sys.argv[3]))
out.to_parquet(sys.argv[4])
names = ("models.serving.pyfunc", "collection_policy.engine", "core.catalogue")
mods = {m: sys.modules[m].__file__ for m in names}
print(json.dumps(mods))
"""


def test_champion_loads_without_the_repo(trained_registry, pipeline_reference, same_outputs):
    tmp = trained_registry.root / "isolated"
    tmp.mkdir(exist_ok=True)
    rows = _rows(trained_registry)
    request = to_request_frame(rows, trained_registry.catalogue, with_policy=True)
    request.to_parquet(tmp / "request.parquet")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(MLFLOW_TRACKING_URI=trained_registry.tracking_uri, MLFLOW_DISABLE_TELEMETRY="true")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            LOADER,
            str(REPO),
            f"models:/{MODEL_NAME}@champion",
            str(tmp / "request.parquet"),
            str(tmp / "out.parquet"),
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    mods = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, path in mods.items():
        assert not path.startswith(str(REPO)), f"{name} came from the repo: {path}"
        assert "/code/" in path, f"{name} not from the model's code dir: {path}"
    same_outputs(pd.read_parquet(tmp / "out.parquet"), pipeline_reference(trained_registry, rows))


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_batch_cli_matches_pipeline(trained_registry, pipeline_reference, same_outputs, suffix):
    tmp = trained_registry.root / f"batch_{suffix}"
    tmp.mkdir(exist_ok=True)
    rows = _rows(trained_registry, n=150)
    src, dst = tmp / f"in.{suffix}", tmp / f"out.{suffix}"
    (rows.to_parquet if suffix == "parquet" else rows.to_csv)(src, index=False)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env["MLFLOW_TRACKING_URI"] = trained_registry.tracking_uri
    cmd = [sys.executable, "-m", "pipelines.score", "--input", str(src), "--output", str(dst)]
    cmd += ["--model-uri", f"models:/{MODEL_NAME}@champion", "--chunk-rows", "40"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = pd.read_parquet(dst) if suffix == "parquet" else pd.read_csv(dst)
    assert out["account_id"].tolist() == rows["account_id"].tolist()
    same_outputs(out, pipeline_reference(trained_registry, rows))
    assert not list(tmp.glob(".*.tmp"))
