"""Time and size the ingest stage (generate + validate + write) at several book sizes.

Usage: python benchmarks/bench_ingest.py --sizes 50000 1000000
Each size runs `python -m pipelines.ingest` in a child process on its own params file, so the
peak RSS is the stage's own.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import yaml
from harness import REPO, machine, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 1_000_000])
    args = parser.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    print(machine())
    print("| customers | statement rows | wall s | CPU s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            params["data"]["source"] = "synthetic"
            params["data"]["synthetic"]["n_customers"] = n
            (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            m = measure(
                [
                    "python",
                    "-m",
                    "pipelines.ingest",
                    "--params",
                    "params.yaml",
                    "--raw-dir",
                    "raw",
                    "--truth-dir",
                    "truth",
                    "--summary",
                    "ingest.json",
                    "--headline",
                    "headline.json",
                ],
                cwd=work,
                log_path=work / "log.txt",
            )
            if m.returncode != 0:
                raise SystemExit((work / "log.txt").read_text())
            summary = json.loads((work / "ingest.json").read_text())
            rows = summary["tables"]["statements"]["rows_in"]
            print(
                f"| {n:,} | {rows:,} | {m.wall_s} | {m.cpu_s} | {m.peak_rss_mb:,.0f} |", flush=True
            )


if __name__ == "__main__":
    main()
