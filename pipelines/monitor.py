"""DVC stage `monitor`: the book over time and across protected groups, against development.

    python -m pipelines.monitor            # the stage, on the pipeline's own outputs
    python -m pipelines.monitor --current scored.parquet [--current-features features.parquet] \
        [--tiers tiers.parquet] --out-dir /tmp/monitoring   # a newer book, without retraining

The reference is the development split (params `monitor.reference_split`) of the train stage's
scores joined with the feature table. The current rows are, by default, every scored row (so the
development months show the baseline next to the later ones); `--current` takes a scored file that
arrived after training instead (account_id, observation_date, pd, grade; `default` where known),
joined on those keys with `--current-features` (CSI and fairness need the feature columns).
Statements and customers (`--raw-dir`) feed vintages and roll rates when the book has them.
The work is `models.monitoring.book_monitor.monitor`; this module reads, calls and writes.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from core.contracts import (
    FEATURES,
    POLICY_PREFIX,
    RAW_CUSTOMERS,
    RAW_STATEMENTS,
    SCORES,
    TIERS,
)
from core.errors import ConfigError, DataValidationError
from core.io import atomic_dir, write_json
from core.partitions import part_files
from models.monitoring.book_monitor import KEYS, monitor, monitoring_frames
from models.monitoring.dashboard import render_dashboard
from models.monitoring.portfolio import HistorySlice
from models.scaling import sorted_grades
from pipelines.common import base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.monitor import read_monitor

log = logging.getLogger(__name__)

TIER_COLUMNS = ["account_id", "observation_date", "tier", "tier_name", "channels"]
STATEMENT_COLUMNS = ["account_id", "statement_date", "days_past_due"]
CUSTOMER_COLUMNS = ["account_id", "signup_date"]


def read_table(path: Path) -> pd.DataFrame:
    """A scored or feature file a user brings: Parquet or CSV, keys parsed."""
    if not path.is_file():
        raise DataValidationError(str(path), "file not found")
    frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    for key in KEYS:
        if key not in frame.columns:
            raise DataValidationError(str(path), f"needs the key column '{key}'", column=key)
    frame["observation_date"] = pd.to_datetime(frame["observation_date"])
    return frame


def current_rows(scored: pd.DataFrame, features: pd.DataFrame | None, source: str) -> pd.DataFrame:
    """A newer scored file joined with its feature rows (each scored row must find its own)."""
    if features is None:
        return scored
    extra = [c for c in features.columns if c not in scored.columns or c in KEYS]
    joined = scored.merge(
        features[extra], on=KEYS, how="left", validate="one_to_one", indicator=True
    )
    missing = joined["_merge"] != "both"
    if missing.any():
        row = int(missing.to_numpy().argmax())
        raise DataValidationError(
            source, "scored row has no feature row with the same keys", column="account_id", row=row
        )
    return joined.drop(columns="_merge")


def read_history(raw: Path | None) -> list[HistorySlice] | Iterator[HistorySlice] | None:
    """The statement history for vintages and roll rates, bucket by bucket as the ingest stage
    wrote it (each read only when the monitor reaches it), or None without one."""
    if raw is None or not (raw / RAW_STATEMENTS.file).exists():  # a file or bucket directory
        log.info("no statement history under %s: vintages and roll rates skipped", raw)
        return None
    statements, customers = raw / RAW_STATEMENTS.file, raw / RAW_CUSTOMERS.file
    if statements.is_dir() and customers.is_dir():
        buckets, customer_buckets = part_files(statements), part_files(customers)
        if [p.name for p in buckets] != [p.name for p in customer_buckets]:
            raise DataValidationError(
                str(customers), f"its buckets do not match those of {statements}"
            )
        pairs = list(zip(buckets, customer_buckets, strict=True))
        return (
            (
                pd.read_parquet(s, columns=STATEMENT_COLUMNS),
                pd.read_parquet(c, columns=CUSTOMER_COLUMNS),
            )
            for s, c in pairs
        )
    return [
        (
            pd.read_parquet(statements, columns=STATEMENT_COLUMNS),
            pd.read_parquet(customers, columns=CUSTOMER_COLUMNS),
        )
    ]


def main(args: argparse.Namespace) -> None:
    settings = read_monitor(load_params(args.params))
    scores = SCORES.read(args.scores, stage="train")
    feature_path = Path(args.features_dir) / FEATURES.file
    present = FEATURES.read_schema(feature_path, stage="features")
    # the policy inputs are neither features nor groups here: they stay on disk
    columns = [c for c in present if not c.startswith(POLICY_PREFIX)]
    features = FEATURES.read(feature_path, columns=columns, stage="features")
    reference, current = monitoring_frames(scores, features, settings.reference_split)
    if args.current:  # a newer book: the development rows are not among its rows
        reference = current[reference].reset_index(drop=True)
        newer_features = read_table(Path(args.current_features)) if args.current_features else None
        current = current_rows(read_table(Path(args.current)), newer_features, args.current)
    absent = [c for c in settings.config.protected if c not in current.columns]
    if absent:
        raise ConfigError(
            "monitor.protected",
            f"column(s) {absent} are not in the monitored rows (protected columns there: "
            f"{sorted(c for c in current.columns if str(c).startswith('protected__'))})",
        )
    tiers = TIERS.read(args.tiers, columns=TIER_COLUMNS, stage="tiers") if args.tiers else None
    history = read_history(Path(args.raw_dir) if args.raw_dir else None)
    result = monitor(
        reference,
        current,
        config=settings.config,
        tiers=tiers,
        history=history,
        grade_order=sorted_grades(current["grade"].dropna().unique()),
    )
    doc = result.to_dict()
    out = Path(args.out_dir)
    write_json(doc["monitoring"] | {"portfolio": portfolio(doc)}, out / "monitoring.json")
    write_json(doc["fairness"], out / "fairness.json")
    with atomic_dir(out / "monitoring") as tmp:
        for name, data in render_dashboard(doc).items():
            (tmp / name).write_bytes(data)
    if args.headline:
        write_json(headline(doc), Path(args.headline))


def portfolio(doc: dict) -> dict:
    """Vintage curves and roll rates as monitoring.json carries them."""
    return {"vintage": doc["vintage"], "roll_rates": doc["roll_rates"]}


def headline(doc: dict) -> dict:
    """reports/headline/monitor.json: worst PSI, worst O/E, red periods, the lowest AIR."""
    head = doc["monitoring"]["headline"]
    airs = [
        group["adverse_impact_ratio"]
        for group in doc["fairness"].values()
        if isinstance(group, dict) and group.get("adverse_impact_ratio") is not None
    ]
    return {
        "worst_psi": head["worst_psi"],
        "worst_oe": head["worst_oe"],
        "red_count": head["red_count"],
        "min_adverse_impact_ratio": min(airs) if airs else None,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--scores", default="data/scores/scores.parquet", help="train stage")
    parser.add_argument("--features-dir", default="data/features")
    parser.add_argument("--tiers", default="data/tiers/tiers.parquet", help="'' = none")
    parser.add_argument("--raw-dir", default="data/raw", help="statements + customers; '' = none")
    parser.add_argument("--current", default=None, help="a newer scored file (Parquet/CSV)")
    parser.add_argument("--current-features", default=None, help="its feature rows")
    parser.add_argument("--out-dir", default="reports", help="monitoring.json, fairness.json, ...")
    parser.add_argument("--headline", default=None, help="reports/headline/monitor.json")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())
