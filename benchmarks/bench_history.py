"""A lender's history from CSV against the built-in source, same book (issue 24): time and RSS.

Usage:
    python benchmarks/bench_history.py --customers 1000000 --months 24 [--work DIR]

The built-in generator makes a book of `--customers` accounts x `--months` monthly statements;
it is written out as a lender would give it (accounts, statements, attributes and labels CSV
files, columns renamed: `tests/features/history_helpers.py`). Then ingest -> features -> train
run twice as child processes (`harness.measure`: wall, CPU, the child's peak RSS): once on the
synthetic source (which generates the same book itself) and once on `data.source: history`
reading the CSV files. The report gives each stage's figures, the totals and the history/synthetic
ratios, and checks that both feature tables hold the same rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import yaml
from harness import REPO, Measurement, bench_env, machine, measure

OBSERVATION_MONTHS = [9, 12, 15, 18]


def export(n: int, months: int, seed: int, out: Path) -> dict[str, Path]:
    """The generated book as a lender's CSV files, block by block (memory: one block)."""
    from features.synthetic import SyntheticConfig, iter_book
    from tests.features.history_helpers import FLAG_RENAMES, RENAMES

    cfg = SyntheticConfig(
        n_customers=n,
        months=months,
        start_date="2024-01-01",
        observation_months=OBSERVATION_MONTHS,
        outcome_months=6,
        seed=seed,
    )
    out.mkdir(parents=True, exist_ok=True)
    files = {
        name: out / f"{name}.csv" for name in ("accounts", "statements", "attributes", "labels")
    }
    first = True
    for book in iter_book(cfg):
        labelled = book.observations[~book.observations["is_current"].astype(bool)]
        frames = {
            "accounts": book.customers.rename(columns={"signup_date": "open_date"}).rename(
                columns={**RENAMES, **FLAG_RENAMES}
            ),
            "statements": book.statements.rename(columns=RENAMES),
            "attributes": book.attributes.rename(columns=RENAMES),
            "labels": labelled[["account_id", "observation_date", "default"]].rename(
                columns=RENAMES
            ),
        }
        for name, frame in frames.items():
            frame.to_csv(files[name], index=False, mode="w" if first else "a", header=first)
        first = False
    return files


def _params(
    work: Path, source: str, n: int, months: int, seed: int, files: dict[str, Path]
) -> None:
    from tests.features.history_helpers import history_params

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["seed"] = seed
    params["data"]["source"] = source
    params["data"]["synthetic"].update(
        n_customers=n, months=months, observation_months=OBSERVATION_MONTHS, outcome_months=6
    )
    params["data"]["history"] = history_params(files)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


STAGES = {
    "ingest": ["--raw-dir", "raw", "--truth-dir", "truth", "--summary", "ingest.json"],
    "features": [
        "--raw-dir", "raw", "--features-dir", "features",
        "--quality-report", "dq.json", "--quality-csv", "dq.csv",
    ],
    "train": [
        "--features-dir", "features", "--truth-dir", "truth", "--model-dir", "model",
        "--scores", "scores.parquet", "--metrics", "metrics.json", "--deciles", "deciles.json",
        "--plots-dir", "plots",
    ],
}  # fmt: skip


def run_source(work: Path) -> dict[str, Measurement]:
    out = {}
    for stage, args in STAGES.items():
        cmd = ["python", "-m", f"pipelines.{stage}", "--params", "params.yaml", *args]
        cmd += ["--headline", f"headline-{stage}.json"]
        log = work / f"log-{stage}.txt"
        m = measure(cmd, cwd=work, env=bench_env(REPO), log_path=log)
        if m.returncode != 0:
            raise SystemExit(log.read_text()[-4000:])
        out[stage] = m
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", type=Path, default=None, help="keep the run here")
    args = ap.parse_args()
    root = args.work or Path(tempfile.mkdtemp(prefix="bench_history_"))
    root.mkdir(parents=True, exist_ok=True)
    files = export(args.customers, args.months, args.seed, root / "csv")
    sizes = {name: round(path.stat().st_size / 2**20) for name, path in files.items()}
    results = {}
    for source in ("synthetic", "history"):
        work = root / source
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        _params(work, source, args.customers, args.months, args.seed, files)
        results[source] = run_source(work)
    rows = {
        s: json.loads((root / s / "dq.json").read_text())["rows"] for s in ("synthetic", "history")
    }
    auc = {
        s: json.loads((root / s / "metrics.json").read_text())["test"]["auc"]
        for s in ("synthetic", "history")
    }
    print(f"machine: {machine()}; CSV MiB: {sizes}; feature rows {rows}; test AUC {auc}")
    print("| source | stage | wall s | CPU s | peak RSS MiB |")
    print("|---|---|---:|---:|---:|")
    for source, stages in results.items():
        for stage, m in stages.items():
            print(f"| {source} | {stage} | {m.wall_s} | {m.cpu_s} | {m.peak_rss_mb:,.0f} |")
    totals = {s: sum(m.wall_s for m in st.values()) for s, st in results.items()}
    peaks = {s: max(m.peak_rss_mb for m in st.values()) for s, st in results.items()}
    print(
        f"total wall: synthetic {totals['synthetic']:.1f} s, history {totals['history']:.1f} s, "
        f"ratio {totals['history'] / totals['synthetic']:.2f}; peak RSS: synthetic "
        f"{peaks['synthetic']:,.0f} MiB, history {peaks['history']:,.0f} MiB"
    )
    if rows["synthetic"] != rows["history"]:
        raise SystemExit("the two sources built different books")


if __name__ == "__main__":
    main()
