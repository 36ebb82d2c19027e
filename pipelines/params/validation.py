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
    label_definition: str
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


def label_definition(params: Params, sec: Section) -> str:
    """validation.label_definition: null = the built-in book's own rule, written from
    data.synthetic.outcome_months (so the card cannot drift from the label); a loan table's
    label is the user's, so with `data.source: table` the text is required."""
    text = sec.optional_string("label_definition")
    data = params.keys("data", ("source", "synthetic"))
    source = data.string("source")
    if source == "synthetic":
        synthetic = params.parser.mapping(data.raw("synthetic"), "data.synthetic")
        months = params.parser.integer(
            synthetic.get("outcome_months"), "data.synthetic.outcome_months", lo=1
        )
        if text is None:
            return f"90+ days past due within {months} months after the snapshot date"
        return text
    if text is None:
        raise params.parser.fail(
            "validation.label_definition", "must say what a default is when data.source is table"
        )
    return text
