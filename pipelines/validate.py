"""DVC stage `validate`: the validation report a reviewer signs, after the gate has decided.

python -m pipelines.validate --features-dir data/features --scores data/scores/scores.parquet \
    --model-dir data/model --truth data/truth/true_pd.parquet --ingest-summary reports/ingest.json \
    --promotion reports/promotion.json --out reports/validation.json \
    --report-dir reports/validation --headline reports/headline/validate.json

Discrimination with intervals per segment and period, calibration per grade with traffic lights
(out-of-time test, each test period, the development hold-out and, on the built-in book, the true
PD as an oracle), stability against the hold-out, the WoE scorecard challenger and the gate's
decision. The work is `models.validation.validation_doc.validate_model`; this module reads, calls, writes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from core.catalogue import read_catalogue, read_feature_dir
from core.contracts import DPD_FEATURE_COLUMN, FEATURES, SCORES
from core.io import read_json, write_json
from models.pd_model import PDModel
from models.training import read_truth
from models.validation.validation_doc import DATE_COLUMN, ModelCard, validate_model
from models.validation.validation_report import render_report
from pipelines.common import base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.validation import read_validation

log = logging.getLogger(__name__)


def headline(doc: dict[str, Any]) -> dict[str, Any]:
    """reports/headline/validate.json: the interval, the red grades, HL and the scorecard."""
    summary = doc.get("calibration_summary", {})
    vs = doc.get("vs_scorecard") or {}
    low, high = doc["auc_ci"]
    return {
        "test_auc_low": low,
        "test_auc_high": high,
        "red_grades_test": (summary.get("test") or {}).get("red"),
        "red_grades_holdout": (summary.get("holdout") or {}).get("red"),
        "hosmer_lemeshow_p": doc["hosmer_lemeshow"]["p"],
        "scorecard_auc": vs.get("auc_scorecard"),
        "gbm_vs_scorecard_p": vs.get("p"),
    }


#: The feature rows validation reads: the scorecard fits on train and is compared on test.
FEATURE_SPLITS = ("train", "test")


def feature_columns(features_dir: Path) -> list[str]:
    """Keys, split, the model's inputs and days past due: what `validate_model` reads of the
    feature table (not the protected attributes or the other policy inputs)."""
    catalogue = read_catalogue(features_dir)
    present = set(pq.read_schema(features_dir / FEATURES.file).names)
    dpd = (
        [DPD_FEATURE_COLUMN] if DPD_FEATURE_COLUMN in present else []
    )  # optional: segments need it
    return [catalogue.id_column, DATE_COLUMN, "split", *catalogue.model_columns, *dpd]


def main(args: argparse.Namespace) -> None:
    settings = read_validation(load_params(args.params))
    features, catalogue = read_feature_dir(
        Path(args.features_dir),
        columns=feature_columns(Path(args.features_dir)),
        splits=FEATURE_SPLITS,
    )
    scores = SCORES.read(args.scores, stage="train")
    model = PDModel.load(args.model_dir)
    truth = read_truth(Path(args.truth)) if args.truth else None
    rejected = None
    if args.ingest_summary and Path(args.ingest_summary).is_file():
        rejected = read_json(args.ingest_summary).get("rows_rejected")
    promotion = read_json(args.promotion) if args.promotion else None
    result = validate_model(
        features,
        scores,
        catalogue,
        model.grade_order,
        model.scaling,
        settings.config,
        promotion,
        label_definition=settings.label_definition,
        card=ModelCard(model_name=settings.model_name),
        true_pd=truth if truth is not None and not truth.empty else None,
        rejected_rows=rejected,
    )
    render_report(result, Path(args.report_dir))
    write_json(result.doc, args.out)
    write_json(headline(result.doc), args.headline)


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--features-dir", default="data/features")
    parser.add_argument("--scores", default="data/scores/scores.parquet")
    parser.add_argument("--model-dir", default="data/model")
    parser.add_argument("--truth", default="data/truth/true_pd.parquet", help="'' = none")
    parser.add_argument("--ingest-summary", default="reports/ingest.json")
    parser.add_argument("--promotion", default="reports/promotion.json", help="'' = none")
    parser.add_argument("--out", default="reports/validation.json")
    parser.add_argument("--report-dir", default="reports/validation")
    parser.add_argument("--headline", default="reports/headline/validate.json")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())
