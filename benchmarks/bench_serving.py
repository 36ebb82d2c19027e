"""Serving benchmark: batch rows/s with and without reason codes against the raw LightGBM booster,
and single-row REST latency / 8-client throughput of `mlflow models serve`, all on loopback.

    python -m benchmarks.bench_serving [--rows 100000] [--reason-rows 20000] [--requests 500]
        [--concurrent 8] [--concurrent-requests 400] [--time-limit 60] [--root .]

Uses a pipeline run's train-stage outputs under `--root` (data/model, data/features,
reports/metrics.json, reports/deciles.json, reports/plots; run the pipeline first) and that
root's params.yaml. The model is registered by the register stage itself (`pipelines.register.run`,
with the params' `train`, `mlflow`, `tiers` and `explain` keys) into a temp MLflow store, then
loaded from the registry (`models:/<name>/<version>`) and served from it (`tests.helpers.running_server`).
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
    from pipelines.params.train import read_train

    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store / 'mlflow.db'}"
    paths = register_stage.RegisterPaths(
        model_dir=root / "data/model",
        features_dir=root / "data/features",
        metrics=root / "reports/metrics.json",
        deciles=root / "reports/deciles.json",
        plots_dir=root / "reports/plots",
        promotion=store / "promotion.json",
        headline=store / "headline.json",
    )
    with contextlib.chdir(root):  # params paths (tiers.policy, explain.reasons) are repo-relative
        params = load_params("params.yaml")
        registration = register_stage.run(
            paths, read_train(params), read_mlflow(params), read_serving(params), repo_root=store
        )
    return registration.result.model_uri


def rate(fn, n: int) -> tuple[float, float]:
    t = time.perf_counter()
    fn()
    s = time.perf_counter() - t
    return n / s, s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--reason-rows", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--concurrent", type=int, default=8)
    ap.add_argument("--concurrent-requests", type=int, default=400)
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per REST phase")
    ap.add_argument(
        "--root", type=Path, default=REPO, help="repository holding the pipeline's outputs"
    )
    args = ap.parse_args()
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    import mlflow

    from features.catalogue import read_feature_dir, to_model_frame
    from models.serving.pyfunc import to_request_frame

    root = args.root.resolve()
    table, cat = read_feature_dir(root / "data/features")
    rows = table.sample(n=args.rows, replace=len(table) < args.rows, random_state=0)
    rows = rows.reset_index(drop=True)
    request = to_request_frame(rows, cat, with_policy=True)
    out: dict[str, object] = {"rows": args.rows, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        model_uri = register(root, Path(tmp))
        out["model_uri"] = model_uri
        model = mlflow.pyfunc.load_model(model_uri)
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
        out.update(rest(model_uri, Path(tmp), request, args))
    print(json.dumps(out, indent=1))


def rest(
    model_uri: str, work: Path, request: pd.DataFrame, args: argparse.Namespace
) -> dict[str, object]:
    """`mlflow models serve` of the registered version: one-row latency, then concurrent clients."""
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager"]
    cmd += ["local", "-p", str(port), "--host", "127.0.0.1", "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    with running_server(cmd, work, env, f"{url}/ping", work / "serve.log"):
        ready = time.perf_counter() - t0
        bodies = [
            json.dumps(
                {
                    "dataframe_split": json.loads(
                        request.iloc[[i]].to_json(orient="split", index=False)
                    )
                }
            ).encode()
            for i in range(min(len(request), max(args.requests, args.concurrent_requests)))
        ]

        def one(i: int) -> float:
            req = urllib.request.Request(
                f"{url}/invocations", bodies[i % len(bodies)], {"Content-Type": "application/json"}
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
        t = time.perf_counter()
        with ThreadPoolExecutor(args.concurrent) as pool:
            done = list(pool.map(one, range(args.concurrent_requests)))
        wall = time.perf_counter() - t
    return {
        "rest_ready_s": round(ready, 1),
        "rest_sequential_requests": len(lat),
        "rest_p50_ms": round(float(np.percentile(ms, 50)), 2),
        "rest_p99_ms": round(float(np.percentile(ms, 99)), 2),
        "rest_concurrent_clients": args.concurrent,
        "rest_concurrent_requests": len(done),
        "rest_concurrent_req_s": round(len(done) / wall, 1),
        "rest_concurrent_p50_ms": round(float(np.percentile(np.array(done) * 1e3, 50)), 2),
    }


if __name__ == "__main__":
    main()
