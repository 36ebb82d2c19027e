"""DVC stage `features`: raw book or loan table -> feature table, catalogue, data-quality report.

The built-in book is read bucket by bucket (`ingest.partitions`, see `core.partitions`): here, one
bucket after another, or on the Dask cluster at `DASK_SCHEDULER_ADDRESS` when set. A table the
model must not train on (a suspected leak, no labelled training rows) stops the stage before
anything is written; the data-quality report that explains the stop goes to the stage's log
directory, named in the error.
"""

from __future__ import annotations

import logging

import pyarrow.parquet as pq

from core.catalogue import CATALOGUE_FILE
from core.contracts import FEATURES
from core.errors import PipelineError
from core.io import write_json
from features.build import run_features
from features.raw import read_raw
from pipelines.params import Params
from pipelines.params.features import read_features
from pipelines.stage import Stage, StagePaths

log = logging.getLogger(__name__)

STAGE = Stage(
    "features",
    __doc__.splitlines()[0],
    inputs=("raw_dir",),
    outputs=("features_dir", "quality_report", "quality_csv", "headline"),
)


def main(paths: StagePaths, params: Params) -> None:
    cfg = read_features(params)
    result = run_features(read_raw(paths.raw_dir), cfg)
    try:
        result.raise_if_unusable()
    except PipelineError as exc:
        report = STAGE.diagnostic("data_quality.json")
        write_json(result.summary, report)
        raise PipelineError(f"{exc} (this run's data-quality report: {report})") from None
    with STAGE.writing(paths) as out:
        write_json(result.summary, out.file("quality_report"))
        result.quality.to_csv(out.file("quality_csv"), index=False)
        table_dir = out.dir("features_dir")
        pq.write_table(result.table, table_dir / FEATURES.file)
        write_json(result.catalogue.to_dict(), table_dir / CATALOGUE_FILE)
        write_json(result.headline, out.file("headline"))
    log.info(
        "wrote %d rows x %d features to %s (splits %s)",
        result.table.num_rows,
        len(result.catalogue.features),
        paths.features_dir,
        result.summary["rows_by_split"],
    )


if __name__ == "__main__":
    STAGE.main(main)
