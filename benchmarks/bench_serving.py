"""Serving benchmark: batch rows/s with and without reason codes against the raw LightGBM booster,
and single-row REST latency / 8-client throughput of `mlflow models serve`, all on loopback.

    python -m benchmarks.bench_serving [--rows 100000] [--reason-rows 20000] [--requests 500]
        [--concurrent 8] [--concurrent-requests 400] [--time-limit 60]

Uses the pipeline's data/model and data/features (run the pipeline first). The model is saved
exactly as the train stage logs it (same pyfunc, artifacts, signature) into a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def save_model(dest: Path, rows: pd.DataFrame) -> None:
    import mlflow

    from models.registry import CODE_PACKAGES, serving_requirements
    from models.serving.pyfunc import (
        MODEL_DIR_ARTIFACT,
        POLICY_ARTIFACT,
        REASONS_ARTIFACT,
        PDPyfuncModel,
        ServingBundle,
        signature_and_example,
    )
    from pipelines.params import load_params
    from pipelines.params.register import read_serving

    spec = read_serving(load_params(REPO / "params.yaml"))  # what the register stage bundles
    policy, reasons = REPO / spec.policy_path, REPO / spec.reasons_path
    bundle = ServingBundle.load(REPO / "data/model", policy, reasons, spec.config)
    sig, example = signature_and_example(rows, bundle)
    mlflow.pyfunc.save_model(
        str(dest),
        python_model=PDPyfuncModel(),
        artifacts={
            MODEL_DIR_ARTIFACT: str(REPO / "data/model"),
            POLICY_ARTIFACT: str(policy),
            REASONS_ARTIFACT: str(reasons),
        },
        model_config=spec.config.to_dict(),
        code_paths=[str(REPO / package) for package in CODE_PACKAGES],
        signature=sig,
        input_example=example,
        pip_requirements=serving_requirements(),
    )


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
    args = ap.parse_args()
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    import mlflow

    from features.catalogue import Catalogue, to_model_frame
    from models.serving.pyfunc import to_request_frame

    cat = Catalogue.from_dict(json.loads((REPO / "data/features/catalogue.json").read_text()))
    table = pd.read_parquet(REPO / "data/features/features.parquet")
    rows = table.sample(n=args.rows, replace=len(table) < args.rows, random_state=0)
    rows = rows.reset_index(drop=True)
    request = to_request_frame(rows, cat, with_policy=True)
    out: dict[str, object] = {"rows": args.rows, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        mdir = Path(tmp) / "model"
        save_model(mdir, rows.head(50))
        model = mlflow.pyfunc.load_model(str(mdir))
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
        out.update(rest(mdir, request, args))
    print(json.dumps(out, indent=1))


def rest(mdir: Path, request: pd.DataFrame, args: argparse.Namespace) -> dict[str, object]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(mdir), "--env-manager"]
    cmd += ["local", "-p", str(port), "--host", "127.0.0.1", "--workers", "1"]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        t0 = time.perf_counter()
        while True:
            try:
                urllib.request.urlopen(f"{url}/ping", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise RuntimeError("model server did not start") from None
                time.sleep(0.3)
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
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
