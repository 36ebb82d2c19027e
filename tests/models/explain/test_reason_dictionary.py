"""The reason dictionary: patterns, exact-value and missing sentences, families and their checks,
the built-in catalogue's coverage, value formatting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError
from models.explain.reason_dictionary import (
    check_families,
    format_value,
    load_reason_dictionary,
    parse_reason_dictionary,
    sentence,
    validate_dictionary,
)

REASONS_YAML = Path(__file__).resolve().parents[3] / "configs" / "reasons.yaml"


def test_dictionary_patterns_values_and_missing():
    d = parse_reason_dictionary(
        {
            "max_dpd_{w}m": {
                "text": "Up to {value:.0f} days late in {w} months",
                "values": {0: "Never late in {w} months"},
            },
            "max_dpd_6m": "Exact entry wins ({value:.0f})",
            "flag": {"text": "Flag {value}", "missing": "Flag unknown"},
        }
    )
    assert sentence("max_dpd_12m", 30.0, d) == "Up to 30 days late in 12 months"
    assert sentence("max_dpd_3m", np.float32(0), d) == "Never late in 3 months"
    assert sentence("max_dpd_6m", 30.0, d) == "Exact entry wins (30)"
    assert sentence("flag", float("nan"), d) == "Flag unknown"
    # a template that cannot render on a value falls back instead of failing the batch
    d2 = parse_reason_dictionary({"channel": "Channel {value:.0f}"})
    assert sentence("channel", "web", d2, categorical=True) == "Channel: web"


def test_bad_dictionary_is_a_config_error(book):
    with pytest.raises(ConfigError, match="non-empty 'text'"):
        parse_reason_dictionary({"max_dpd_6m": {"txt": "typo"}})
    with pytest.raises(ConfigError, match="unknown field"):
        parse_reason_dictionary({"max_dpd_6m": {"text": "x", "value": {}}})
    broken = parse_reason_dictionary({"max_dpd_6m": "Late {valu:.0f} days"})
    with pytest.raises(ConfigError, match="does not render for feature 'max_dpd_6m'"):
        validate_dictionary(broken, book.catalogue)


def _families(**families):
    return {"families": families}


def test_bad_families_are_config_errors(book, tmp_path):
    ok = {"label": "Delinquency", "features": {"max_dpd_{w}m": "late {value:.0f}"}}
    with pytest.raises(ConfigError, match=r"families.x.label: must be a non-empty name"):
        parse_reason_dictionary(_families(x={"features": {"a": "b"}}))
    with pytest.raises(ConfigError, match=r"families.x.adverse: must be true or false"):
        parse_reason_dictionary(_families(x={**ok, "adverse": "no"}))
    with pytest.raises(ConfigError, match=r"families.x: has unknown field\(s\) \['lable'\]"):
        parse_reason_dictionary(_families(x={**ok, "lable": "typo"}))
    with pytest.raises(ConfigError, match=r"max_dpd_\{w\}m.*already in family 'a'"):
        parse_reason_dictionary(_families(a=ok, b=ok))
    with pytest.raises(ConfigError, match="unknown top-level"):
        parse_reason_dictionary({"families": {"a": ok}, "refrence": "x"})
    with pytest.raises(ConfigError, match="reference: does not render"):
        parse_reason_dictionary({"families": {"a": ok}, "reference": "PD {pd}"})
    # a feature of the catalogue without a family is an error naming it
    d = parse_reason_dictionary(_families(a=ok))
    with pytest.raises(ConfigError, match=r"\['utilisation_current', .*'channel'\] have no reason"):
        check_families(d, book.catalogue)


def test_loading_checks_the_builtin_catalogue(tmp_path, reason_dictionary):
    """Loading the repo's dictionary checks the built-in catalogue; drop a family and the
    error names its features."""
    import yaml

    behavioural = pytest.importorskip("features.behavioural")
    check_families(reason_dictionary, behavioural.behavioural_catalogue((3, 6, 12)))
    data = yaml.safe_load(REASONS_YAML.read_text())
    del data["families"]["instalments"]
    path = tmp_path / "reasons.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"instalment_plans_current', 'instalment_plans_max_12m"):
        load_reason_dictionary(path)


def test_repo_dictionary_covers_the_behavioural_features(reason_dictionary):
    """Every feature the behavioural stage creates has a sentence that renders."""
    from models.explain.reason_dictionary import builtin_catalogue

    cat = builtin_catalogue()
    assert validate_dictionary(reason_dictionary, cat) == []
    check_families(reason_dictionary, cat)
    never = {f for f in cat.model_columns if not reason_dictionary.adverse(f)}
    assert never == {"credit_limit", "income_band", "city_tier", "channel"}
    for spec in cat.features:
        value = (spec.categories or ["x"])[0] if spec.dtype == "category" else 2.0
        text = sentence(
            spec.name, value, reason_dictionary, spec.direction, spec.dtype == "category"
        )
        assert text and "{" not in text and "nan" not in text


def test_value_formatting():
    assert format_value(45.0) == "45"
    assert format_value(0.123456) == "0.1235"
    assert format_value(None) == "missing"
    assert format_value(float("nan")) == "missing"
    assert format_value("web") == "web"
