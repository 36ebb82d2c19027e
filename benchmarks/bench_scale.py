"""Ingest + features (and, with --cluster, train) on the bucketed raw book (issue 15): time, RSS.

Usage:
    python benchmarks/bench_scale.py --sizes 1000000            # local mode, default partitions
    python benchmarks/bench_scale.py --sizes 100000 --cluster   # also on a 2-worker LocalCluster
    python benchmarks/bench_scale.py --sizes 1000000 --repo /tmp/baseline   # another source tree

Each stage runs as `python -m pipelines.<stage>` in its own child process on a params file in a
temp directory (`harness.measure`: wall, CPU, that child's peak RSS). With `--cluster` the driver
starts a `distributed.LocalCluster` (2 worker processes, 1 thread each), runs the features stage
again with `DASK_SCHEDULER_ADDRESS` set, and checks that its feature table equals the local one
exactly (the workers' memory is not in the child's peak RSS: it is reported beside it). It then
trains on that table twice, locally and with `lightgbm.dask` on the same cluster, and reports
both test AUCs (the cluster's must be within 0.005 of the local one).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import yaml
from harness import REPO, Measurement, bench_env, machine, measure


def _stage(repo: Path, work: Path, stage: str, env: dict[str, str] | None = None) -> Measurement:
    """Run `pipelines.<module>` for `stage` ("ingest", "features-local", "features-cluster",
    "train-local", "train-cluster")."""
    module = stage.split("-")[0]
    if module == "ingest":
        args = ["--raw-dir", "raw", "--truth-dir", "truth", "--summary", "ingest.json"]
    elif module == "train":  # both on the local feature table
        out = f"out-{stage}"
        args = ["--features-dir", "out-features-local", "--truth-dir", "truth"]
        args += ["--model-dir", f"{out}/model", "--scores", f"{out}/scores.parquet"]
        args += ["--metrics", f"{out}/metrics.json", "--deciles", f"{out}/deciles.json"]
        args += ["--plots-dir", f"{out}/plots"]
    else:
        args = ["--raw-dir", "raw", "--features-dir", f"out-{stage}"]
        args += ["--quality-report", f"dq-{stage}.json", "--quality-csv", f"dq-{stage}.csv"]
    cmd = ["python", "-m", f"pipelines.{module}", "--params", "params.yaml", *args]
    cmd += ["--headline", f"headline-{stage}.json"]
    log = work / f"log-{stage}.txt"
    m = measure(cmd, cwd=work, env=env or bench_env(repo), log_path=log)
    if m.returncode != 0:
        raise SystemExit(log.read_text()[-4000:])
    return m


def _row(
    n: int, partitions: int | str, mode: str, stage: str, m: Measurement, note: str = ""
) -> str:
    return (
        f"| {n:,} | {partitions} | {mode} | {stage} | {m.wall_s} | {m.cpu_s} | "
        f"{m.peak_rss_mb:,.0f} | {note} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--partitions", type=int, default=None, help="default: params.yaml")
    parser.add_argument("--cluster", action="store_true", help="also run features on Dask")
    parser.add_argument("--repo", type=Path, default=REPO, help="source tree to run")
    args = parser.parse_args()
    repo = args.repo.resolve()
    params = yaml.safe_load((repo / "params.yaml").read_text())
    partitions = params.get("ingest", {}).get("partitions", "-")
    if args.partitions is not None:
        params["ingest"]["partitions"] = partitions = args.partitions
    print(machine(), f"source tree {repo}")
    print("| customers | partitions | mode | stage | wall s | CPU s | peak RSS MB | note |")
    print("|---:|---:|---|---|---:|---:|---:|---|")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            params["data"]["source"] = "synthetic"
            params["data"]["synthetic"]["n_customers"] = n
            (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            m = _stage(repo, work, "ingest")
            rows = json.loads((work / "ingest.json").read_text())["rows_in"]
            print(_row(n, partitions, "local", "ingest", m, f"{rows:,} raw rows"), flush=True)
            m = _stage(repo, work, "features-local")
            print(_row(n, partitions, "local", "features", m), flush=True)
            if args.cluster:
                for row in _cluster_rows(repo, work, n, partitions):
                    print(row, flush=True)


def _cluster_rows(repo: Path, work: Path, n: int, partitions: int | str) -> list[str]:
    import pandas as pd
    from distributed import Client, LocalCluster

    trained = _stage(repo, work, "train-local")
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        env = bench_env(repo)
        env["DASK_SCHEDULER_ADDRESS"] = cluster.scheduler_address
        m = _stage(repo, work, "features-cluster", env)
        workers = client.run(_peak_rss_mb)
        trained_remote = _stage(repo, work, "train-cluster", env)
        train_workers = client.run(_peak_rss_mb)
    local = pd.read_parquet(work / "out-features-local" / "features.parquet")
    remote = pd.read_parquet(work / "out-features-cluster" / "features.parquet")
    pd.testing.assert_frame_equal(remote, local, check_exact=True)
    peaks = ", ".join(f"{v:,.0f}" for v in sorted(workers.values()))
    auc = {
        mode: json.loads((work / f"out-train-{mode}" / "metrics.json").read_text())["test"]["auc"]
        for mode in ("local", "cluster")
    }
    if abs(auc["cluster"] - auc["local"]) > 0.005:
        raise SystemExit(f"cluster test AUC {auc['cluster']:.4f} vs local {auc['local']:.4f}")
    train_peaks = ", ".join(f"{v:,.0f}" for v in sorted(train_workers.values()))
    return [
        _row(n, partitions, "2 workers", "features", m, f"identical; worker peak MB {peaks}"),
        _row(n, partitions, "local", "train", trained, f"test AUC {auc['local']:.4f}"),
        _row(
            n,
            partitions,
            "2 workers",
            "train",
            trained_remote,
            f"test AUC {auc['cluster']:.4f}; worker peak MB {train_peaks}",
        ),
    ]


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
