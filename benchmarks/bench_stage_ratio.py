"""Time two stages of one pipeline run alternately, several times each, and compare their medians.

    python benchmarks/bench_stage_ratio.py --customers 1000000 --stages tiers monitor --repeat 5
        [--work /tmp/ratio_1m]   # reuse a run kept from before (its data/ and reports/)

A single timing of a 10-second stage on a shared 2-core machine varies by 20% or more, so a ratio
of two single timings (issue 14: monitor within 1.5x of tiers) says little. This script runs every
stage up to the later of the two once (in a fresh temp copy of the repo, or in `--work`), then the
two stages alternately `--repeat` times each, each in its own child process (wall time, CPU time,
peak RSS via `os.wait4`), and prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import bench_env, machine, measure  # noqa: E402
from run_pipeline import prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--stages", nargs=2, default=["tiers", "monitor"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None, help="a kept run to reuse")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix=f"ratio{args.customers}_"))
    fresh = not (work / "dvc.yaml").exists()
    if fresh:
        work.mkdir(parents=True, exist_ok=True)
        prepare(work, args.customers)
    stages = yaml.safe_load((work / "dvc.yaml").read_text())["stages"]
    env = bench_env(work)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work}/mlflow.db"
    names = list(stages)
    if fresh:  # every stage the two depend on, once
        for name in names[: max(names.index(s) for s in args.stages) + 1]:
            m = measure(shlex.split(stages[name]["cmd"]), cwd=work, env=env)
            if m.returncode != 0:
                raise SystemExit(f"stage {name} failed in {work}")
    runs: dict[str, list[tuple[float, float, float]]] = {s: [] for s in args.stages}
    for _ in range(args.repeat):
        for name in args.stages:
            m = measure(shlex.split(stages[name]["cmd"]), cwd=work, env=env)
            if m.returncode != 0:
                raise SystemExit(f"stage {name} failed in {work}")
            runs[name].append((m.wall_s, m.cpu_s, m.peak_rss_mb))
    print(f"Machine: {machine()}; {args.customers:,} customers; work dir {work}")
    medians = {}
    for name, rows in runs.items():
        medians[name] = statistics.median(r[0] for r in rows)
        walls = ", ".join(f"{r[0]:.1f}" for r in rows)
        print(
            f"{name}: wall s [{walls}], median {medians[name]:.2f}; median CPU "
            f"{statistics.median(r[1] for r in rows):.1f} s; peak {max(r[2] for r in rows):,.0f} MB"
        )
    first, second = args.stages
    print(f"{second} / {first} (medians): {medians[second] / medians[first]:.2f}")


if __name__ == "__main__":
    main()
