"""DVC stage `features`: raw book or loan table -> feature table, catalogue, data-quality report.

    python -m pipelines.features --raw-dir data/raw --out-dir data/features \
        --report reports/data_quality.json --headline reports/headline/features.json

The built-in book is read bucket by bucket (`ingest.partitions`, see `core.partitions`):
here, one bucket after another, or on the Dask cluster at `DASK_SCHEDULER_ADDRESS` when set.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pyarrow.parquet as pq

from core.catalogue import CATALOGUE_FILE
from core.contracts import FEATURES
from core.io import atomic_dir, atomic_path, write_json
from features.build import build_features
from features.raw import read_raw
from pipelines.common import base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.features import read_features

log = logging.getLogger(__name__)


def main(args: argparse.Namespace) -> None:
    cfg = read_features(load_params(args.params))
    result = build_features(read_raw(args.raw_dir), cfg)
    # the detailed report is written first: it explains a stop on a leak
    report = Path(args.report)
    write_json(result.summary, report)
    with atomic_path(report.with_suffix(".csv")) as tmp:
        result.quality.to_csv(tmp, index=False)
    result.raise_if_unusable()
    # the headline and the table only for a usable table: a stop keeps the last good ones
    with atomic_dir(args.out_dir) as tmp:
        pq.write_table(result.table, tmp / FEATURES.file)
        write_json(result.catalogue.to_dict(), tmp / CATALOGUE_FILE)
    write_json(result.headline, args.headline)
    log.info(
        "wrote %d rows x %d features to %s (splits %s)",
        result.table.num_rows,
        len(result.catalogue.features),
        args.out_dir,
        result.summary["rows_by_split"],
    )


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(__doc__.strip().splitlines()[0])
    parser.add_argument("--raw-dir", default="data/raw")
    parser.add_argument("--out-dir", default="data/features")
    parser.add_argument("--report", default="reports/data_quality.json")
    parser.add_argument("--headline", default="reports/headline/features.json")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())
