"""Run the whole pipeline at several book sizes and record per-stage wall time, CPU time and peak RSS.

Usage (from the repo root, venv active or via `make bench`):
    python benchmarks/run_pipeline.py --sizes 10000 100000 1000000 [--write-readme]

Each size runs in a fresh temp copy of the repo (source only; `--work DIR` keeps it there, and a
later `--work DIR --stages a b` re-times only those stages on its data), stage by stage in dvc.yaml order,
each stage's `cmd` in its own child process so its peak memory is its own. MLflow logs to an
SQLite file inside the temp copy. With --write-readme the table replaces the block between the
`<!-- pipeline-table -->` markers in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import REPO, bench_env, machine, measure  # noqa: E402

from tests.helpers import copy_source  # noqa: E402

MARK_START, MARK_END = "<!-- pipeline-table -->", "<!-- /pipeline-table -->"


def prepare(work: Path, n_customers: int) -> list[tuple[str, str]]:
    copy_source(work)
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["data"]["source"] = "synthetic"
    params["data"]["synthetic"]["n_customers"] = n_customers
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stages = yaml.safe_load((work / "dvc.yaml").read_text())["stages"]
    return [(name, spec["cmd"]) for name, spec in stages.items()]


def run_size(
    n: int,
    keep: Path | None,
    only: list[str] | None = None,
    work_dir: Path | None = None,
    stage_names: list[str] | None = None,
) -> list[dict[str, object]]:
    work = work_dir or Path(tempfile.mkdtemp(prefix=f"bench{n}_"))
    try:
        if work_dir is not None and (work / "dvc.yaml").exists():  # a kept run: its data stays
            specs = yaml.safe_load((work / "dvc.yaml").read_text())["stages"]
            stages = [(name, spec["cmd"]) for name, spec in specs.items()]
        else:
            work.mkdir(parents=True, exist_ok=True)
            stages = prepare(work, n)
        if only:
            last = max(i for i, (name, _) in enumerate(stages) if name in only)
            stages = stages[: last + 1]  # a stage needs the ones before it
        if stage_names:  # only these (their inputs must already be in the kept work dir)
            stages = [(name, cmd) for name, cmd in stages if name in stage_names]
        env = bench_env(work)
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work}/mlflow.db"
        rows = []
        for name, cmd in stages:
            log_path = work / f"{name}.log"
            m = measure(shlex.split(cmd), cwd=work, env=env, log_path=log_path)
            print(
                f"  {n:>9,} {name:<10} wall {m.wall_s:>8.1f}s cpu {m.cpu_s:>8.1f}s peak {m.peak_rss_mb:>8,.0f} MB",
                flush=True,
            )
            if m.returncode != 0:
                raise SystemExit(f"stage {name} failed at n={n}:\n{log_path.read_text()[-3000:]}")
            rows.append({"customers": n, "stage": name, **m.as_dict()})
        if keep is not None:
            shutil.copytree(work / "reports", keep / f"reports_{n}", dirs_exist_ok=True)
        return rows
    finally:
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def table(rows: list[dict[str, object]]) -> str:
    sizes = sorted({r["customers"] for r in rows})
    lines = [
        f"Machine: {machine()}",
        "",
        "| customers | stage | wall s | CPU s | peak RSS MB |",
        "|---:|---|---:|---:|---:|",
    ]
    for n in sizes:
        sub = [r for r in rows if r["customers"] == n]
        for r in sub:
            lines.append(
                f"| {n:,} | {r['stage']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:,.0f} |"
            )
        total_wall = sum(float(r["wall_s"]) for r in sub)
        total_cpu = sum(float(r["cpu_s"]) for r in sub)
        peak = max(float(r["peak_rss_mb"]) for r in sub)
        lines.append(
            f"| {n:,} | **all stages** | **{total_wall:.1f}** | **{total_cpu:.1f}** | **{peak:,.0f}** |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw rows here")
    parser.add_argument("--keep-reports", type=Path, default=None)
    parser.add_argument("--until", default=None, help="stop after this stage (default: all)")
    parser.add_argument(
        "--work", type=Path, default=None, help="run in (and keep) this folder; reuse its data"
    )
    parser.add_argument("--stages", nargs="+", default=None, help="only these stages")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for n in args.sizes:
        rows.extend(
            run_size(
                n,
                args.keep_reports,
                [args.until] if args.until else None,
                args.work,
                args.stages,
            )
        )
    text = table(rows)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.write_readme:
        readme = REPO / "benchmarks" / "README.md"
        body = (
            readme.read_text() if readme.exists() else f"# Benchmarks\n\n{MARK_START}\n{MARK_END}\n"
        )
        if MARK_START not in body:
            body += f"\n{MARK_START}\n{MARK_END}\n"
        head, rest = body.split(MARK_START, 1)
        _, tail = rest.split(MARK_END, 1)
        readme.write_text(f"{head}{MARK_START}\n{text}\n{MARK_END}{tail}")


if __name__ == "__main__":
    main()
