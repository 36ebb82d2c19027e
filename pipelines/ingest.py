"""DVC stage `ingest`: generate or read the credit book, validate it, write Parquet + a summary.

    python -m pipelines.ingest --out-dir data/raw --truth-dir data/truth \
        --summary reports/ingest.json --headline reports/headline/ingest.json

The built-in book's tables are written as they are generated, bucketed by account id into
`ingest.partitions` files each (`data/raw/<table>.parquet/part-0000.parquet`, ...); a loan
table stays one file.
"""

from __future__ import annotations

import argparse
import logging

from core.contracts import TRUE_PD
from core.io import atomic_dir, write_json
from core.partitions import PartitionedWriter
from features.ingest import ingest
from features.raw import META_FILE, PARTITIONS_KEY, REJECTS_FILE
from pipelines.common import base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.data import read_ingest, read_partitions

log = logging.getLogger(__name__)


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    cfg, partitions = read_ingest(params), read_partitions(params)
    with atomic_dir(args.out_dir) as tmp:
        if cfg.source_name == "synthetic":  # bucketed by account id as it is generated
            with PartitionedWriter(tmp, partitions) as writer:
                result = ingest(cfg, write=writer.write)
            result.meta[PARTITIONS_KEY] = partitions
        else:  # a loan table stays one file
            result = ingest(cfg)
        for file, table in result.tables.items():
            table.to_parquet(tmp / file, index=False)
        result.rejects.to_parquet(tmp / REJECTS_FILE, index=False)
        write_json(result.meta, tmp / META_FILE)
    with atomic_dir(args.truth_dir) as tmp:
        result.true_pd.to_parquet(tmp / TRUE_PD.file, index=False)
        for file, table in result.truth.items():
            table.to_parquet(tmp / file, index=False)
    write_json(result.summary, args.summary)
    write_json(result.headline, args.headline)
    log.info(
        "ingest: %d rows in, %d kept, %d rejected; default rate %.4f",
        result.summary["rows_in"],
        result.summary["rows_kept"],
        result.summary["rows_rejected"],
        result.summary["default_rate"],
    )


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(__doc__.strip().splitlines()[0])
    parser.add_argument("--out-dir", default="data/raw")
    parser.add_argument("--truth-dir", default="data/truth")
    parser.add_argument("--summary", default="reports/ingest.json")
    parser.add_argument("--headline", default="reports/headline/ingest.json")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())
