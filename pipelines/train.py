"""DVC stage `train`: calibrated LightGBM PD + logistic baseline, scores, metrics and plots.

The register stage bundles, logs and gates the model; this stage touches no registry, so editing
the collection policy or the reason dictionary never retrains. The work is
`models.training.run_train`; this module reads the truth, calls it and writes what it returns.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import PipelineError
from core.io import read_json, write_json, write_parquet
from core.truth import read_truth
from models.train_config import TrainConfig
from models.training import TrainResult, run_train
from pipelines.params import Params
from pipelines.params.train import read_train
from pipelines.stage import Input, Stage, StagePaths

STAGE = Stage(
    "train",
    "Train the calibrated LightGBM PD model and the logistic baseline.",
    inputs=(
        "features_dir",
        Input("truth_dir", optional=True, help="the built-in book's truth (true PD as an oracle)"),
        Input("policy_check", optional=True, help="the check_policy stage's verdict"),
    ),
    outputs=("model_dir", "scores", "metrics", "deciles", "plots_dir", "headline"),
)


def run(paths: StagePaths, config: TrainConfig) -> TrainResult:
    """Train on the feature table and write every output together once all are made: a failed
    run leaves the last good model and reports in place."""
    if paths.policy_check is not None:
        require_valid_policy(paths.policy_check)
    truth = read_truth(paths.truth_dir, parts=("true_pd",)).true_pd
    result = run_train(paths.features_dir, truth, config)
    with STAGE.writing(paths) as out:
        result.model.save(out.dir("model_dir"))
        write_parquet(result.scores, out.file("scores"))
        write_json(result.deciles, out.file("deciles"))
        plots = out.dir("plots_dir")
        for name, rows in result.plots.items():
            write_json(rows, plots / f"{name}.json")
        write_json(result.metrics, out.file("metrics"))
        write_json(result.headline(), out.file("headline"))
    return result


def require_valid_policy(path: Path) -> None:
    """The check_policy stage's verdict must be there and say valid: train runs after it."""
    if not path.is_file() or read_json(path) != {"valid": True}:
        raise PipelineError(f"'{path}' does not say the policy is valid; run check_policy first")


def main(paths: StagePaths, params: Params) -> None:
    run(paths, read_train(params))


if __name__ == "__main__":
    STAGE.main(main)
