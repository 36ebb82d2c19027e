"""DVC stage `ingest`: generate or read the credit book, validate it, write Parquet + a summary.

The built-in book's tables are written as they are generated, bucketed by account id into
`ingest.partitions` files each (`data/raw/<table>.parquet/part-0000.parquet`, ...); a loan
table stays one file. Rejected rows go to `rejects.parquet` with file, row, column and rule.
"""

from __future__ import annotations

import logging

from core.contracts import TRUE_PD
from core.io import write_json
from core.partitions import PartitionedWriter
from features.ingest import run_ingest
from features.raw import META_FILE, PARTITIONS_KEY, REJECTS_FILE
from pipelines.params import Params
from pipelines.params.data import read_ingest, read_partitions
from pipelines.stage import Stage, StagePaths

log = logging.getLogger(__name__)

STAGE = Stage(
    "ingest",
    __doc__.splitlines()[0],
    outputs=("raw_dir", "truth_dir", "summary", "headline"),
)


def main(paths: StagePaths, params: Params) -> None:
    cfg, partitions = read_ingest(params), read_partitions(params)
    with STAGE.writing(paths) as out:
        raw = out.dir("raw_dir")
        if cfg.source_name == "synthetic":  # bucketed by account id as it is generated
            with PartitionedWriter(raw, partitions) as writer:
                result = run_ingest(cfg, write=writer.write)
            result.meta[PARTITIONS_KEY] = partitions
        elif cfg.source_name == "history":  # read in blocks, bucketed by account id
            with PartitionedWriter(raw, partitions) as writer:
                result = run_ingest(cfg, writer.write, raw / ".scratch", partitions)
            result.meta[PARTITIONS_KEY] = partitions
        else:  # a loan table stays one file
            result = run_ingest(cfg)
        for file, table in result.tables.items():
            table.to_parquet(raw / file, index=False)
        result.rejects.to_parquet(raw / REJECTS_FILE, index=False)
        write_json(result.meta, raw / META_FILE)
        truth = out.dir("truth_dir")
        result.true_pd.to_parquet(truth / TRUE_PD.file, index=False)
        for file, table in result.truth.items():
            table.to_parquet(truth / file, index=False)
        write_json(result.summary, out.file("summary"))
        write_json(result.headline, out.file("headline"))
    log.info(
        "ingest: %d rows in, %d kept, %d rejected; default rate %.4f",
        result.summary["rows_in"],
        result.summary["rows_kept"],
        result.summary["rows_rejected"],
        result.summary["default_rate"],
    )


if __name__ == "__main__":
    STAGE.main(main)
