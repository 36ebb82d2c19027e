"""The shared typed parser: one message shape, no coercion, unknown and missing keys fail."""

from __future__ import annotations

import math

import pytest

from core.config import Parser, read_yaml_mapping
from core.errors import ConfigError


@pytest.fixture
def parser() -> Parser:
    return Parser("params.yaml")


def test_message_shape_names_file_key_rule_and_value(parser):
    with pytest.raises(ConfigError) as exc:
        parser.number("fast", "train.learning_rate")
    assert str(exc.value) == "params.yaml: train.learning_rate: expected a number, got 'fast'"


@pytest.mark.parametrize("value", [True, "0.1", None, math.nan, math.inf])
def test_number_coerces_nothing(parser, value):
    with pytest.raises(ConfigError, match="train.x"):
        parser.number(value, "train.x")


def test_number_bounds_open_and_closed(parser):
    assert parser.number(1, "k", lo=0, hi=1) == 1.0
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        parser.number(0, "k", lo=0, hi=1, lo_open=True)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        parser.number(1.0, "k", lo=0, hi=1, hi_open=True)


@pytest.mark.parametrize("value", [True, 1.0, "3"])
def test_integer_rejects_bools_floats_and_text(parser, value):
    with pytest.raises(ConfigError, match="expected an integer"):
        parser.integer(value, "seed")


def test_boolean_is_strict(parser):
    assert parser.boolean(False, "k") is False
    with pytest.raises(ConfigError, match="expected true or false, got 1"):
        parser.boolean(1, "k")


def test_section_rejects_unknown_and_missing_keys(parser):
    with pytest.raises(ConfigError, match=r"train\.learnin_rate: is not a known key"):
        parser.section({"learnin_rate": 0.1}, "train", ("learning_rate",))
    with pytest.raises(ConfigError, match=r"train\.learning_rate: is required"):
        parser.section({}, "train", ("learning_rate",))
    sec = parser.section({"learning_rate": 0.1, "n": {"a": 1}}, "train", ("learning_rate", "n"))
    assert sec.number("learning_rate", lo=0, hi=1) == 0.1
    with pytest.raises(ConfigError, match=r"train\.n\.b: is required"):
        sec.section("n", ("a", "b"))


def test_lists(parser):
    assert parser.int_list([3, 6], "w", lo=1, hi=60) == [3, 6]
    with pytest.raises(ConfigError, match="expected a non-empty list"):
        parser.int_list([], "w")
    with pytest.raises(ConfigError, match="expected integers in"):
        parser.int_list([0], "w", lo=1)
    with pytest.raises(ConfigError, match="lists a value twice"):
        parser.str_list(["a", "a"], "cols")


def test_choice_and_path_to_file(parser, tmp_path):
    assert parser.choice("platt", "train.calibration", ("platt", "isotonic")) == "platt"
    with pytest.raises(ConfigError, match=r"expected one of \['platt', 'isotonic'\]"):
        parser.choice("plat", "train.calibration", ("platt", "isotonic"))
    (tmp_path / "p.yaml").write_text("a: 1\n")
    sec = parser.section(
        {"policy": str(tmp_path / "p.yaml"), "other": "nope.yaml"}, "tiers", ("policy", "other")
    )
    assert sec.path_to_file("policy").name == "p.yaml"
    with pytest.raises(ConfigError, match="tiers.other: file not found"):
        sec.path_to_file("other")


def test_read_yaml_mapping_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        read_yaml_mapping(tmp_path / "missing.yaml", "params")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml_mapping(bad, "params")
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n")
    with pytest.raises(ConfigError, match=f"{listy}: params: expected a mapping"):
        read_yaml_mapping(listy, "params")
