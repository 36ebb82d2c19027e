"""The report renders in a real browser, offline: every embedded image decodes and has a size."""

from __future__ import annotations

import pytest

from tests.browser import open_page


@pytest.mark.slow
def test_report_images_load_in_headless_chromium(explain_run, chromium, tmp_path):
    root, _ = explain_run
    page = open_page(
        root / "reports/explain/report.html",
        chromium,
        tmp_path,
        {"headings": "return Array.from(document.querySelectorAll('h2')).map(h => h.textContent);"},
    )
    assert page["title"] == "PD model explanations"
    assert len(page["images"]) >= 8
    assert not page["broken"], f"images that did not load: {page['broken']}"
    assert "Sample accounts" in page["headings"]
