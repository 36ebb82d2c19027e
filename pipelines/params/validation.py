"""The `validation` section of params.yaml -> `models.validation.validation_doc.ValidationConfig` + the label
definition the model card states. The samples it measures (development hold-out, calibration
sample) are the ones the train stage recorded in the scores: no train key is read here."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Section
from models.validation.validation_doc import ValidationConfig
from pipelines.params import Params

VALIDATION_KEYS: tuple[str, ...] = (
    "level",
    "amber",
    "red",
    "hl_groups",
    "ks_bootstrap",
    "scorecard_max_bins",
    "scorecard_min_bin_size",
    "scorecard_max_fit_rows",
    "label_definition",
)


@dataclass(frozen=True)
class ValidationSettings:
    config: ValidationConfig
    label_definition: str | None  # None: the definition ingest labelled the book by
    model_name: str


def read_validation(params: Params) -> ValidationSettings:
    """validation: interval level, traffic-light levels, HL groups, KS bootstrap, scorecard."""
    sec = params.section("validation", keys=VALIDATION_KEYS)
    try:
        config = ValidationConfig(
            seed=params.seed(),
            level=sec.number("level", lo=0.5, hi=1, hi_open=True),
            amber=sec.number("amber", lo=0, hi=0.5, lo_open=True),
            red=sec.number("red", lo=0, hi=0.5, lo_open=True),
            hl_groups=sec.integer("hl_groups", lo=3, hi=100),
            ks_bootstrap=sec.integer("ks_bootstrap", lo=1, hi=100_000),
            scorecard_max_bins=sec.integer("scorecard_max_bins", lo=2, hi=50),
            scorecard_min_bin_size=sec.number(
                "scorecard_min_bin_size", lo=0, hi=0.5, lo_open=True, hi_open=True
            ),
            scorecard_max_fit_rows=sec.integer("scorecard_max_fit_rows", lo=100),
        )
    except ValueError as exc:  # rules across keys (red < amber)
        raise params.parser.fail("validation", str(exc)) from None
    model_name = params.keys("mlflow", ("model_name",)).string("model_name")
    return ValidationSettings(config, label_definition(params, sec), model_name)


def label_definition(params: Params, sec: Section) -> str | None:
    """validation.label_definition: null = the definition the book's labels were derived by, as
    ingest recorded it (reports/ingest.json: the built-in book's and a lender's history's), so
    the card cannot drift from the label; a loan table's label is the user's own, so with
    `data.source: table` the text is required."""
    text = sec.optional_string("label_definition")
    source = params.keys("data", ("source",)).string("source")
    if source == "table" and text is None:
        raise params.parser.fail(
            "validation.label_definition", "must say what a default is when data.source is table"
        )
    return text
