"""DVC stage `monitor`: the book over time and across protected groups, against development.

    python -m pipelines.monitor ...      # as dvc.yaml runs it, on the pipeline's own outputs
    python -m pipelines.monitor --current scored.parquet [--current-features features.parquet] \
        --scores S --features-dir F --tiers '' --raw-dir '' --monitoring out/monitoring.json \
        --fairness out/fairness.json --dashboard-dir out/monitoring --headline out/headline.json

The reference is the development split (params `monitor.reference_split`) of the train stage's
scores joined with the feature table. The current rows are, by default, every scored row (so the
development months show the baseline next to the later ones); `--current` takes a scored file that
arrived after training instead (account_id, observation_date, pd, grade; `default` where known),
joined on those keys with `--current-features` (CSI and fairness need the feature columns).
Statements and customers (`--raw-dir`) feed vintages and roll rates when the book has them.
The work is `models.monitoring.book_monitor.run_monitor`; this module reads, calls and writes.
"""

from __future__ import annotations

import logging

from core.contracts import FEATURES, POLICY_PREFIX, SCORES, TIERS
from core.errors import ConfigError
from core.io import write_json
from models.monitoring.book_monitor import monitoring_frames, run_monitor
from models.monitoring.dashboard import render_dashboard
from models.monitoring.inputs import (
    TIER_COLUMNS,
    current_rows,
    has_open_dates,
    read_history,
    read_scored_table,
)
from models.scaling import sorted_grades
from pipelines.params import Params
from pipelines.params.monitor import read_monitor
from pipelines.stage import Input, Stage, StagePaths

log = logging.getLogger(__name__)

STAGE = Stage(
    "monitor",
    __doc__.splitlines()[0],
    inputs=(
        "scores",
        "features_dir",
        Input("tiers", optional=True, help="the tiers stage's table ('' = none)"),
        Input("raw_dir", optional=True, help="statements + customers ('' = none)"),
        Input("current", optional=True, help="a newer scored file (Parquet/CSV)"),
        Input("current_features", optional=True, help="its feature rows"),
    ),
    outputs=("monitoring", "fairness", "dashboard_dir", "headline"),
)


def main(paths: StagePaths, params: Params) -> None:
    settings = read_monitor(params)
    scores = SCORES.read(paths.scores, stage="train")
    feature_path = paths.features_dir / FEATURES.file
    present = FEATURES.read_schema(feature_path, stage="features")
    # the policy inputs are neither features nor groups here: they stay on disk
    columns = [c for c in present if not c.startswith(POLICY_PREFIX)]
    features = FEATURES.read(feature_path, columns=columns, stage="features")
    reference, current = monitoring_frames(scores, features, settings.reference_split)
    if paths.current is not None:  # a newer book: the development rows are not among its rows
        reference = current[reference].reset_index(drop=True)
        newer = read_scored_table(paths.current_features) if paths.current_features else None
        current = current_rows(read_scored_table(paths.current), newer, str(paths.current))
    absent = [c for c in settings.config.protected if c not in current.columns]
    if absent:
        raise ConfigError(
            "monitor.protected",
            f"column(s) {absent} are not in the monitored rows (protected columns there: "
            f"{sorted(c for c in current.columns if str(c).startswith('protected__'))})",
        )
    tiers = None
    if paths.tiers is not None:
        tiers = TIERS.read(paths.tiers, columns=TIER_COLUMNS, stage="tiers")
    result = run_monitor(
        reference,
        current,
        config=settings.config,
        tiers=tiers,
        history=read_history(paths.raw_dir),
        grade_order=sorted_grades(current["grade"].dropna().unique()),
        vintages=has_open_dates(paths.raw_dir),
    )
    monitoring, fairness, headline = result.reports()
    with STAGE.writing(paths) as out:
        write_json(monitoring, out.file("monitoring"))
        write_json(fairness, out.file("fairness"))
        dashboard = out.dir("dashboard_dir")
        for name, data in render_dashboard(result.to_dict()).items():
            (dashboard / name).write_bytes(data)
        write_json(headline, out.file("headline"))


if __name__ == "__main__":
    STAGE.main(main)
