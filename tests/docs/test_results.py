"""docs/results.md is the page docs/make_results.py renders from reports/: the committed page must
equal the script's output (a run that changes the reports without regenerating fails here), the
numbers on it are the reports' numbers, and a missing value or report never crashes the script."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "docs" / "make_results.py"

# Scientific notation, NaN and infinities: none may reach the page.
UNREADABLE = re.compile(r"\d[eE][-+]?\d|\b(nan|inf|infinity)\b", re.IGNORECASE)


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_results", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


mr = _load()


@pytest.fixture(scope="module")
def real_reports() -> dict[str, Any]:
    return mr.read_reports(REPO / "reports")


# ---------------------------------------------------------------- (a) the page is the reports'
def test_committed_page_is_the_scripts_output_on_the_committed_reports(real_reports):
    page = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    expected = mr.render_results(real_reports)
    assert page == expected, (
        "docs/results.md is stale: run `python docs/make_results.py` after the pipeline run"
    )


def test_every_report_the_page_is_made_of_is_committed(real_reports):
    assert set(real_reports) == set(mr.REPORT_FILES)


def test_check_mode_tells_a_stale_page_from_a_current_one(tmp_path, real_reports):
    out = tmp_path / "results.md"
    assert mr.main(["--reports", str(REPO / "reports"), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == mr.render_results(real_reports)
    assert mr.main(["--reports", str(REPO / "reports"), "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("0.9", "0.8", 1), encoding="utf-8")
    assert mr.main(["--reports", str(REPO / "reports"), "--out", str(out), "--check"]) == 1


def test_the_page_carries_the_reports_headline_numbers(real_reports):
    """A few numbers recomputed here from the reports must stand on the page as formatted."""
    page = mr.render_results(real_reports)
    validation, metrics = real_reports["validation.json"], real_reports["metrics.json"]
    test = validation["discrimination"]["test"]
    assert f"{test['auc']:.4f} [{test['auc_low']:.4f}, {test['auc_high']:.4f}]" in page
    assert f"| {metrics['test']['brier']:.4f} |" in page
    oracle = validation["oracle"]["discrimination"]
    assert f"{oracle['auc']:.4f} [{oracle['auc_low']:.4f}, {oracle['auc_high']:.4f}]" in page
    tiers = real_reports["tiers.json"]["tiers"]
    for name, tier in tiers.items():
        assert f"| {name} | {tier['name']} | {tier['accounts']:,} |" in page
    for flag in real_reports["fairness.json"]["age_band"]["flags"]:
        assert f"- {flag['message']}" in page


# ------------------------------------------------------------- (b) hand-made reports, n/a
def _small_reports() -> dict[str, Any]:
    return {
        "metrics.json": {
            "test": {"brier": 0.0123456},
            "baseline_test": {"auc": 0.7001, "ks": 0.41234},
            "segments": {"not_past_due": {"oracle_auc": 0.80004}},
        },
        "validation.json": {
            "config": {"level": 0.95, "red": 0.01, "amber": 0.05, "hl_groups": 10},
            "discrimination": {
                "test": {
                    "n": 1234,
                    "defaults": 56,
                    "auc": 0.81234,
                    "auc_low": 0.8,
                    "auc_high": 0.82,
                },
                "segments": {"not_past_due": {"n": 1000, "auc": 0.75}},
            },
            "calibration_summary": {
                "holdout": {
                    "n": 500,
                    "defaults": 10,
                    "oe_ratio": 0.987,
                    "oe_low": 0.5,
                    "oe_high": 1.5,
                },
                "test": {
                    "n": 1234,
                    "defaults": 56,
                    "oe_ratio": 1.456,
                    "oe_low": 1.2,
                    "oe_high": 1.7,
                },
            },
            "hosmer_lemeshow_by_sample": {"test": {"p": 7.084e-06}, "holdout": {"p": 0.5}},
        },
        "promotion.json": {
            "status": "refused",
            "passed": False,
            "checks": [
                {
                    "check": "floor",
                    "passed": False,
                    "auc": 0.55,
                    "low": 0.5,
                    "high": 0.6,
                    "limit": 0.6,
                },
                {"check": "something_new", "passed": True, "detail": "a | new check"},
            ],
        },
        "fairness.json": {
            "age_band": {
                "column": "protected__age_band",
                "outcome": "phone",
                "groups": [{"group": "18-24", "n": 10, "air": 0.5, "air_equal_risk": None}],
                "adverse_impact_ratio": 0.5,
                "adverse_impact_ratio_equal_risk": 0.93,
                "flags": [],
            }
        },
    }


def test_small_reports_render_the_numbers_they_hold():
    page = mr.render_results(_small_reports())
    assert "| LightGBM PD model | 0.8123 [0.8000, 0.8200] | 0.7500 | n/a [n/a, n/a]" not in page
    assert "| LightGBM PD model | 0.8123 [0.8000, 0.8200] | 0.7500 | n/a | 0.0123 |" in page
    assert "| logistic baseline (same run) | 0.7001 | — | 0.412 | n/a |" in page
    assert "| oracle: the generator's true PD | n/a | 0.8000 | — | n/a |" in page
    assert "0.99 [0.50, 1.50]" in page and "1.46 [1.20, 1.70]" in page
    assert "| < 0.0001 |" in page and "| 0.500 |" in page  # HL p-values
    assert "on the out-of-time test: more defaults than predicted (interval above 1)" in page
    assert "O/E on the hold-out: consistent with 1" in page
    assert "Decision: **refused** (gate failed)" in page
    assert "| `floor` | FAIL | test AUC 0.5500 [0.5000, 0.6000]; floor 0.6 |" in page
    assert "| `something_new` | pass | a \\| new check |" in page
    assert "Lowest AIR 0.500 (below the 0.8 line) raw and 0.930 (at or above the 0.8 line)" in page
    assert "| 18-24 | 10 | n/a | n/a | n/a | n/a | 0.500 | n/a |" in page


def test_the_past_due_explanation_is_said_only_when_the_numbers_show_it(real_reports):
    page = mr.render_results(real_reports)
    validation = real_reports["validation.json"]
    pooled = validation["discrimination"]["test"]["auc"]
    current = validation["discrimination"]["segments"]["not_past_due"]["auc"]
    assert ("Accounts already past due are" in page) == (pooled > current)
    flipped = copy.deepcopy(real_reports)
    flipped["validation.json"]["discrimination"]["test"]["auc"] = current - 0.01
    assert "Accounts already past due are" not in mr.render_results(flipped)


def test_missing_values_are_na_never_a_crash():
    page = mr.render_results({name: {} for name in mr.REPORT_FILES})
    assert "n/a" in page and "Not rendered" not in page
    assert not UNREADABLE.search(page), UNREADABLE.search(page)


@pytest.mark.parametrize("junk", [None, "text", 3, [], [1, "x", None], {"x": [None]}, float("nan")])
def test_values_of_the_wrong_type_are_na_never_a_crash(real_reports, junk):
    """Every leaf and every branch of the real reports replaced, one file at a time."""
    for name in mr.REPORT_FILES:
        broken = copy.deepcopy(real_reports)
        broken[name] = _replace_leaves(broken[name], junk)
        page = mr.render_results(broken)
        assert not UNREADABLE.search(page), (name, UNREADABLE.search(page))
        broken[name] = junk
        assert mr.render_results(broken).endswith("\n")


def _replace_leaves(obj: Any, junk: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _replace_leaves(v, junk) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace_leaves(v, junk) for v in obj]
    return junk


def test_a_missing_report_file_is_named_in_its_sections(real_reports):
    reports = {k: v for k, v in real_reports.items() if k != "tiers.json"}
    page = mr.render_results(reports)
    assert page.count("_Not rendered: `reports/tiers.json` is missing (run `make repro`)._") == 3
    assert "## Promotion gate" in page and "Decision: **" in page  # other sections unharmed
    page = mr.render_results({})
    assert page.count("_Not rendered:") == len(mr.SECTIONS)
    assert "`reports/metrics.json`, `reports/validation.json` are missing" in page


def test_read_reports_names_a_broken_file_and_skips_absent_ones(tmp_path):
    (tmp_path / "metrics.json").write_text('{"test": {"auc": NaN}}', encoding="utf-8")
    assert set(mr.read_reports(tmp_path)) == {"metrics.json"}
    (tmp_path / "tiers.json").write_text('{"accounts": 3,', encoding="utf-8")
    with pytest.raises(mr.ReportReadError, match=r"tiers\.json: not valid JSON \(line 1"):
        mr.read_reports(tmp_path)
    assert mr.main(["--reports", str(tmp_path), "--out", str(tmp_path / "r.md")]) == 2
    assert mr.main(["--reports", str(tmp_path / "nope"), "--out", str(tmp_path / "r.md")]) == 2
    assert not (tmp_path / "r.md").exists()


# ------------------------------------------------------------------ (c) readable numbers only
def test_real_page_has_no_scientific_notation_nan_or_inf(real_reports):
    page = mr.render_results(real_reports)
    assert not UNREADABLE.search(page), UNREADABLE.search(page)


@pytest.mark.parametrize(
    "value,fmt,expected",
    [
        (7.084e-06, "p_value", "< 0.0001"),
        (0.0042, "p_value", "0.0042"),
        (0.13558, "p_value", "0.136"),
        (7.084e-06, "psi", "0.000"),
        (-1e-9, "signed4", "0.0000"),
        (1.2e21, "count", "1,200,000,000,000,000,000,000"),
        (1e-05, "plain", "0.00001"),
        (1.44e-14, "tiny", "< 0.000001"),
        (float("inf"), "auc", "n/a"),
        (float("nan"), "pct", "n/a"),
        (True, "count", "n/a"),
        ("0.9", "auc", "n/a"),
        (0.048444, "pct", "4.8%"),
        (0.95, "share", "95%"),
        (0.9833333, "share", "98.3%"),
    ],
)
def test_formats(value, fmt, expected):
    formats = {
        "p_value": mr.p_value,
        "psi": mr.psi,
        "signed4": lambda x: mr.signed(x, 4),
        "count": mr.count,
        "plain": mr.plain,
        "tiny": mr.tiny,
        "auc": mr.auc,
        "pct": mr.pct,
        "share": mr.share,
    }
    assert formats[fmt](value) == expected


def test_the_generator_reads_only_reports_and_the_standard_library():
    text = SCRIPT.read_text(encoding="utf-8")
    imports = re.findall(r"^(?:from (\S+) import |import (\S+)$)", text, re.M)
    roots = {name.split(".")[0] for pair in imports for name in pair if name}
    assert {"json", "argparse"} <= roots
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}, roots


def test_the_real_reports_are_json_the_page_can_read():
    for name in mr.REPORT_FILES:
        json.loads((REPO / "reports" / name).read_text(encoding="utf-8"))
