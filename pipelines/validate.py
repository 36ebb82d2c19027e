"""DVC stage `validate`: the validation report a reviewer signs, after the gate has decided.

Discrimination with intervals per segment and period, calibration per grade with traffic lights
(out-of-time test, each test period, the development hold-out and, on the built-in book, the true
PD as an oracle), stability against the hold-out, the WoE scorecard challenger and the gate's
decision. The work is `models.validation.validation_doc.run_validate`; this module reads, calls,
writes.
"""

from __future__ import annotations

from core.catalogue import read_catalogue, read_feature_dir
from core.contracts import FEATURES, SCORES
from core.errors import PipelineError
from core.io import read_json, write_json
from core.truth import read_truth
from models.pd_model import PDModel
from models.validation.validation_doc import (
    FEATURE_SPLITS,
    ModelCard,
    feature_columns,
    run_validate,
)
from models.validation.validation_report import render_report
from pipelines.params import Params
from pipelines.params.validation import read_validation
from pipelines.stage import Input, Stage, StagePaths

STAGE = Stage(
    "validate",
    __doc__.splitlines()[0],
    inputs=(
        "features_dir",
        "scores",
        "model_dir",
        Input("truth_dir", optional=True, help="the built-in book's truth: the oracle columns"),
        Input("ingest_summary", optional=True, help="reports/ingest.json: rejected rows"),
        Input("promotion", optional=True, help="reports/promotion.json: the gate's decision"),
    ),
    outputs=("validation", "report_dir", "headline"),
)


def main(paths: StagePaths, params: Params) -> None:
    settings = read_validation(params)
    present = FEATURES.read_schema(paths.features_dir / FEATURES.file, stage="features")
    columns = feature_columns(read_catalogue(paths.features_dir), present)
    features, catalogue = read_feature_dir(paths.features_dir, columns, FEATURE_SPLITS)
    scores = SCORES.read(paths.scores, stage="train")
    model = PDModel.load(paths.model_dir)
    truth = read_truth(paths.truth_dir, parts=("true_pd",)).true_pd
    ingest = {}
    if paths.ingest_summary is not None and paths.ingest_summary.is_file():
        ingest = read_json(paths.ingest_summary)
    rejected = ingest.get("rows_rejected")
    definition = settings.label_definition or (ingest.get("labels") or {}).get("definition")
    if not definition:
        raise PipelineError(
            "validation.label_definition is null and reports/ingest.json records no label "
            "definition: say what a default is in params.yaml"
        )
    promotion = read_json(paths.promotion) if paths.promotion is not None else None
    result = run_validate(
        features,
        scores,
        catalogue,
        model.grade_order,
        model.scaling,
        settings.config,
        promotion,
        label_definition=definition,
        card=ModelCard(model_name=settings.model_name),
        true_pd=truth,
        rejected_rows=rejected,
    )
    with STAGE.writing(paths) as out:
        render_report(result, out.dir("report_dir"))
        write_json(result.doc, out.file("validation"))
        write_json(result.headline(), out.file("headline"))


if __name__ == "__main__":
    STAGE.main(main)
