"""The validation report: offline, model card first, a light per grade, the binning table."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from models.validation.validation_doc import ValidationResult
from models.validation.validation_report import render_report
from tests.browser import open_page
from tests.models.validation.test_run import make_book, regraded, run

GATE = {
    "promote": False,
    "reasons": ["PASS: test AUC 0.84 >= floor 0.6", "FAIL: test ECE 0.03 > 0.02"],
    "challenger_version": "3",
}


class _Page(HTMLParser):
    """Tables (class, rows of (cell class, text)), h2 headings and images of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self.h2: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self._cell: list[Any] | None = None
        self._in_h2 = False
        self._in_tbody = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"cls": a.get("class") or "", "rows": []})
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self.tables[-1]["rows"].append([])
        elif tag == "td" and self._in_tbody:
            self._cell = [a.get("class") or "", ""]
        elif tag == "h2":
            self._in_h2 = True
            self.h2.append("")
        elif tag == "img":
            self.images.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.tables[-1]["rows"][-1].append(tuple(self._cell))
            self._cell = None
        elif tag == "tbody":
            self._in_tbody = False
        elif tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1] += data
        if self._in_h2:
            self.h2[-1] += data


def parse(path: Path) -> tuple[str, _Page]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return text, page


@pytest.fixture(scope="module")
def book() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    return make_book()


@pytest.fixture(scope="module")
def with_oracle(book) -> ValidationResult:
    features, scores, truth = book
    return run(features, scores, true_pd=truth, promotion=GATE)


@pytest.fixture(scope="module")
def report(with_oracle, tmp_path_factory) -> Path:
    return render_report(with_oracle, tmp_path_factory.mktemp("validation"))


def test_report_files_offline_and_model_card_first(report) -> None:
    assert report.name == "report.html"
    names = {p.name for p in report.parent.iterdir()}
    assert {"report.html", "binning_table.csv", "auc_forest.png"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    text, page = parse(report)
    assert not re.search(r"https?://", text)
    assert "<script" not in text
    assert page.h2[0] == "Model card"
    assert text.index("Model card") < text.index("Discrimination")
    assert "90+ DPD within 6 months" in text[: text.index("Discrimination")]
    assert page.images and all(i["src"].startswith("data:image/png;base64,") for i in page.images)


def test_one_light_per_grade_row(with_oracle, report) -> None:
    _, page = parse(report)
    doc = with_oracle.doc
    grade_tables = [t for t in page.tables if "grades" in t["cls"].split()]
    expected = [
        doc["calibration_by_grade"],
        *doc["calibration_by_period"].values(),
        doc["calibration_holdout"],
        doc["oracle"]["calibration_by_grade"],
    ]
    assert len(grade_tables) == len(expected) == 5
    for table, rows in zip(grade_tables, expected, strict=True):
        assert len(table["rows"]) == len(rows)
        for cells, row in zip(table["rows"], rows, strict=True):
            lights = [c for c in cells if "light" in c[0].split()]
            assert len(lights) == 1
            assert lights[0][1] == row["light"]
            assert f"light-{row['light']}" in lights[0][0]
            assert cells[0][1] == row["grade"]


def test_red_lights_and_no_oracle_without_truth(book, tmp_path) -> None:
    features, scores, _ = book
    page_path = render_report(run(features, regraded(scores, 0.5)), tmp_path)
    text, page = parse(page_path)
    assert 'class="light light-red"' in text
    assert "Oracle" not in text
    assert len([t for t in page.tables if "grades" in t["cls"].split()]) == 4
    assert "No promotion decision was provided." in text


def test_binning_table_readable_and_written(with_oracle, report) -> None:
    _, page = parse(report)
    csv = pd.read_csv(report.parent / "binning_table.csv")
    assert len(csv) == len(with_oracle.binning_table) > 0
    assert list(csv.columns) == list(with_oracle.binning_table.columns)
    tables = [t for t in page.tables if "binning" in t["cls"].split()]
    assert len(tables) == 1 and len(tables[0]["rows"]) == len(csv)
    first_selected = next(
        r["variable"] for r in with_oracle.doc["scorecard"]["iv"] if r["selected"]
    )
    assert tables[0]["rows"][0][0][1] == first_selected  # highest IV first
    assert {r[1][1] for r in tables[0]["rows"]} >= {"Missing"}


def test_gate_lines(report) -> None:
    text, page = parse(report)
    assert "Promotion gate" in page.h2
    assert "DO NOT PROMOTE" in text
    for line in GATE["reasons"]:
        assert f">{html.escape(line)}</li>" in text


@pytest.mark.slow
def test_report_renders_in_headless_chromium(report, chromium, tmp_path) -> None:
    page = open_page(
        report,
        chromium,
        tmp_path,
        {
            "first_h2": "return document.querySelector('h2').textContent;",
            "light": "const c = document.querySelector('td.light');"
            "return c ? getComputedStyle(c).backgroundColor : null;",
        },
    )
    assert page["title"] == "PD model validation"
    assert page["first_h2"] == "Model card"
    assert len(page["images"]) == 3
    assert not page["broken"], f"images that did not load: {page['broken']}"
    assert page["light"] is not None and page["light"] != "rgba(0, 0, 0, 0)"  # coloured cell
