"""DVC stage `train`: calibrated LightGBM PD + logistic baseline, scores, metrics and plots.

python -m pipelines.train --features-dir data/features --truth data/truth/true_pd.parquet \
    --model-dir data/model --scores data/scores/scores.parquet --metrics reports/metrics.json \
    --deciles reports/deciles.json --plots-dir reports/plots --headline reports/headline/train.json

The register stage bundles, logs and gates the model; this stage touches no registry, so editing
the collection policy or the reason dictionary never retrains.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from core.catalogue import read_catalogue
from core.contracts import FEATURES
from core.io import atomic_dir, write_json, write_parquet
from models.pd_model import TrainConfig
from models.training import (
    TrainResult,
    book_blocks,
    read_labelled_splits,
    read_truth,
    train_on_splits,
)
from pipelines.common import add_output, base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.train import read_train


@dataclass(frozen=True)
class TrainPaths:
    features_dir: Path
    model_dir: Path
    scores: Path
    metrics: Path
    deciles: Path
    plots_dir: Path
    headline: Path
    truth: Path | None = None


def run(paths: TrainPaths, config: TrainConfig) -> TrainResult:
    """Read the labelled rows (and the true PD when there is one), train, score the current book
    block by block from the file, write every output.

    The whole feature table is never in memory: only its labelled rows and one block of the
    current book. Every input is checked before training and every output is written atomically
    after it: a failed run leaves the last good model and reports in place."""
    catalogue = read_catalogue(paths.features_dir)
    source = str(paths.features_dir / FEATURES.file)
    parts = read_labelled_splits(paths.features_dir, catalogue)
    truth = read_truth(paths.truth)
    book = book_blocks(paths.features_dir, catalogue)
    result = train_on_splits(parts, book, catalogue, truth, config, source=source)
    with atomic_dir(paths.model_dir) as tmp:
        result.model.save(tmp)
    write_parquet(result.scores, paths.scores)
    write_json(result.deciles, paths.deciles)
    with atomic_dir(paths.plots_dir) as tmp:
        for name, rows in result.plots.items():
            write_json(rows, tmp / f"{name}.json")
    write_json(result.metrics, paths.metrics)
    write_json(result.headline(), paths.headline)
    return result


def main(args: argparse.Namespace) -> None:
    config = read_train(load_params(args.params))
    paths = TrainPaths(
        features_dir=Path(args.features_dir),
        model_dir=Path(args.model_dir),
        scores=Path(args.scores),
        metrics=Path(args.metrics),
        deciles=Path(args.deciles),
        plots_dir=Path(args.plots_dir),
        headline=Path(args.headline),
        truth=Path(args.truth) if args.truth else None,
    )
    run(paths, config)


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("Train the calibrated LightGBM PD model and the logistic baseline.")
    parser.add_argument("--features-dir", default="data/features")
    parser.add_argument(
        "--truth", default=None, help="true_pd.parquet (synthetic book only; optional)"
    )
    add_output(parser, "--model-dir", default="data/model")
    add_output(parser, "--scores", default="data/scores/scores.parquet")
    add_output(parser, "--metrics", default="reports/metrics.json")
    add_output(parser, "--deciles", default="reports/deciles.json")
    add_output(parser, "--plots-dir", default="reports/plots")
    add_output(parser, "--headline", default="reports/headline/train.json")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())
