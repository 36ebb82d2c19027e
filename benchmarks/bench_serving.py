"""Serving benchmark: batch rows/s with and without reason codes against the raw LightGBM booster,
one-row latency in-process and over REST (`mlflow models serve`, loopback) with and without
reasons beside MLflow's own floor (a trivial pyfunc with the same signature, served the same way in
the same run), and 8-client throughput.

    python -m benchmarks.bench_serving [--rows 100000] [--reason-rows 20000] [--requests 200]
        [--concurrent 8] [--concurrent-requests 400] [--time-limit 60] [--root .]

Uses a pipeline run's train-stage outputs under `--root` (data/model, data/features,
reports/metrics.json, reports/deciles.json, reports/plots; run the pipeline first) and that
root's params.yaml. The model is registered by the register stage itself (`pipelines.register.run`,
with the params' `train`, `mlflow`, `tiers` and `explain` keys) into a temp MLflow store, then
loaded from the registry (`models:/<name>/<version>`) and served from it (`tests.helpers.running_server`).
A feature table older than a policy input declared in `core.contracts.POLICY_INPUTS` gets that
column at its declared `table_default` in a temp copy (listed under `filled_policy_inputs`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import REPO  # noqa: E402

from tests.helpers import free_port, running_server  # noqa: E402


def register(root: Path, store: Path) -> str:
    """Register `root`'s trained model as the register stage does, in an MLflow store under
    `store` (MLFLOW_TRACKING_URI is set to it for this process and the server); returns its URI."""
    from pipelines import register as register_stage
    from pipelines.params import load_params
    from pipelines.params.mlflow import read_mlflow
    from pipelines.params.register import read_serving

    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store / 'mlflow.db'}"
    paths = register_stage.STAGE.paths(
        model_dir=root / "data/model",
        features_dir=root / "data/features",
        scores=root / "data/scores/scores.parquet",
        metrics=root / "reports/metrics.json",
        deciles=root / "reports/deciles.json",
        plots_dir=root / "reports/plots",
        ev_rates=root / "data/collection/ev_rates.json",
        promotion=store / "promotion.json",
        headline=store / "headline.json",
        registered=store / "registered.json",
    )
    with contextlib.chdir(root):  # params paths (tiers.policy, explain.reasons) are repo-relative
        params = load_params("params.yaml")
        registration = register_stage.run(
            paths, read_mlflow(params), read_serving(params), repo_root=store
        )
    return registration.result.model_uri


def with_policy_inputs(root: Path, work: Path) -> tuple[Path, list[str]]:
    """`root`, or a temp root whose feature table has every declared policy input (the missing
    ones at their `table_default`, as a loan table without such a column gets them)."""
    import shutil

    import pyarrow.parquet as pq

    from core.contracts import POLICY_INPUTS

    table_path = root / "data/features/features.parquet"
    present = set(pq.read_schema(table_path).names)
    missing = [p for p in POLICY_INPUTS if p.feature_column not in present]
    if not missing:
        return root, []
    copy = work / "root"
    for item in ("data/model", "reports", "data/features"):
        shutil.copytree(root / item, copy / item)
    for name in ("params.yaml", "configs"):
        src = root / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, copy / name)
    table = pd.read_parquet(table_path)
    for p in missing:
        table[p.feature_column] = p.table_default
    table.to_parquet(copy / "data/features/features.parquet", index=False)
    return copy, [p.feature_column for p in missing]


class Trivial(mlflow.pyfunc.PythonModel):
    """MLflow's floor: the same signature, a constant answer, no work."""

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        return pd.DataFrame({"pd": np.zeros(len(model_input))})


def log_trivial(model_uri: str) -> str:
    """A trivial pyfunc logged with the served model's signature; returns its URI."""
    from mlflow.models import get_model_info

    signature = get_model_info(model_uri).signature
    with mlflow.start_run(run_name="trivial-floor"):
        info = mlflow.pyfunc.log_model(
            name="trivial", python_model=Trivial(), signature=signature, pip_requirements=[]
        )
    return info.model_uri


def one_row_ms(fn, frames: list[pd.DataFrame], warmup: int = 10) -> dict[str, float]:
    """p50/p99 in ms of `fn(frame)` over one-row frames, sequentially."""
    for f in frames[:warmup]:
        fn(f)
    lat = []
    for f in frames:
        t = time.perf_counter()
        fn(f)
        lat.append(time.perf_counter() - t)
    ms = np.array(lat) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def rate(fn, n: int) -> tuple[float, float]:
    t = time.perf_counter()
    fn()
    s = time.perf_counter() - t
    return n / s, s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--reason-rows", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrent", type=int, default=8)
    ap.add_argument("--concurrent-requests", type=int, default=400)
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per REST phase")
    ap.add_argument(
        "--root", type=Path, default=REPO, help="repository holding the pipeline's outputs"
    )
    args = ap.parse_args()
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    import mlflow

    from core.catalogue import read_feature_dir, to_model_frame
    from models.serving.pyfunc import to_request_frame

    out: dict[str, object] = {
        "rows": args.rows,
        "cpus": len(os.sched_getaffinity(0)),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        root, filled = with_policy_inputs(args.root.resolve(), Path(tmp))
        out["filled_policy_inputs"] = filled
        table, cat = read_feature_dir(root / "data/features")
        rows = table.sample(n=args.rows, replace=len(table) < args.rows, random_state=0)
        rows = rows.reset_index(drop=True)
        request = to_request_frame(rows, cat, with_policy=True)
        model_uri = register(root, Path(tmp))
        out["model_uri"] = model_uri
        model = mlflow.pyfunc.load_model(model_uri)
        ones = [request.iloc[[i]].reset_index(drop=True) for i in range(args.requests)]
        for key, kw in (("with_reasons", {}), ("no_reasons", {"params": {"reasons": False}})):
            stats = one_row_ms(lambda f, kw=kw: model.predict(f, **kw), ones)
            out.update({f"inprocess_{key}_{k}": v for k, v in stats.items()})
        booster = model._model_impl.python_model.bundle.model.booster
        x = to_model_frame(rows, cat)
        raw, _ = rate(lambda: booster.predict(x, raw_score=True), args.rows)
        no_r, _ = rate(lambda: model.predict(request, params={"reasons": False}), args.rows)
        sub = request.head(args.reason_rows)
        with_r, _ = rate(lambda: model.predict(sub), len(sub))
        contrib, _ = rate(lambda: booster.predict(x.head(len(sub)), pred_contrib=True), len(sub))
        out.update(
            raw_booster_rows_s=round(raw),
            pyfunc_no_reasons_rows_s=round(no_r),
            pyfunc_with_reasons_rows_s=round(with_r),
            raw_pred_contrib_rows_s=round(contrib),
            reason_rows=len(sub),
            ratio_no_reasons_to_raw=round(no_r / raw, 4),
            ratio_with_reasons_to_raw=round(with_r / raw, 5),
            ratio_with_reasons_to_pred_contrib=round(with_r / contrib, 3),
        )
        print(json.dumps(out), flush=True)
        trivial_uri = log_trivial(model_uri)
        out.update(rest(model_uri, Path(tmp), request, args))
        floor = rest(trivial_uri, Path(tmp), request, args, reasons=(True,), concurrent=False)
        out.update({k.replace("rest_", "rest_trivial_floor_"): v for k, v in floor.items()})
    print(json.dumps(out, indent=1))


def rest(
    model_uri: str,
    work: Path,
    request: pd.DataFrame,
    args: argparse.Namespace,
    reasons: tuple[bool, ...] = (True, False),
    concurrent: bool = True,
) -> dict[str, object]:
    """`mlflow models serve` of `model_uri`: one-row latency (with and without reasons), then
    concurrent clients (with reasons)."""
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager"]
    cmd += ["local", "-p", str(port), "--host", "127.0.0.1", "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    n_bodies = min(len(request), max(args.requests, args.concurrent_requests))
    split = [
        json.loads(request.iloc[[i]].to_json(orient="split", index=False)) for i in range(n_bodies)
    ]
    result: dict[str, object] = {}
    t0 = time.perf_counter()
    with running_server(cmd, work, env, f"{url}/ping", work / "serve.log"):
        result["rest_ready_s"] = round(time.perf_counter() - t0, 1)
        for with_reasons in reasons:
            extra = {} if with_reasons else {"params": {"reasons": False}}
            bodies = [json.dumps({"dataframe_split": b, **extra}).encode() for b in split]

            def one(i: int, bodies: list[bytes] = bodies) -> float:
                req = urllib.request.Request(
                    f"{url}/invocations",
                    bodies[i % len(bodies)],
                    {"Content-Type": "application/json"},
                )
                t = time.perf_counter()
                with urllib.request.urlopen(req, timeout=30) as r:
                    r.read()
                return time.perf_counter() - t

            for i in range(10):  # warm-up
                one(i)
            lat, t_end = [], time.perf_counter() + args.time_limit
            for i in range(args.requests):
                if time.perf_counter() > t_end:
                    break
                lat.append(one(i))
            ms = np.array(lat) * 1e3
            key = "rest" if with_reasons else "rest_no_reasons"
            result[f"{key}_sequential_requests"] = len(lat)
            result[f"{key}_p50_ms"] = round(float(np.percentile(ms, 50)), 2)
            result[f"{key}_p99_ms"] = round(float(np.percentile(ms, 99)), 2)
            if with_reasons and concurrent:
                t = time.perf_counter()
                with ThreadPoolExecutor(args.concurrent) as pool:
                    done = list(pool.map(one, range(args.concurrent_requests)))
                wall = time.perf_counter() - t
                result["rest_concurrent_clients"] = args.concurrent
                result["rest_concurrent_requests"] = len(done)
                result["rest_concurrent_req_s"] = round(len(done) / wall, 1)
                result["rest_concurrent_p50_ms"] = round(
                    float(np.percentile(np.array(done) * 1e3, 50)), 2
                )
    return result


if __name__ == "__main__":
    main()
