from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from models.monitoring.book_monitor import run_monitor
from models.monitoring.dashboard import render_dashboard
from tests.browser import open_page
from tests.models.monitoring.book import tiers_for


def _full_report(mon_book) -> dict:
    reference, current = mon_book
    ids = current["account_id"].unique()[:50]
    months = pd.date_range("2025-01-01", periods=4, freq="MS")
    statements = pd.DataFrame(
        {
            "account_id": np.repeat(ids, 4),
            "statement_date": np.tile(months, len(ids)),
            "days_past_due": np.tile([0, 20, 50, 95], len(ids)),
        }
    )
    score_rows = current[current["split"] == "score"]
    report = run_monitor(
        reference,
        current,
        tiers=tiers_for(score_rows, "18-34"),
        statements=statements,
        accounts=pd.DataFrame({"account_id": ids, "signup_date": pd.Timestamp("2025-01-02")}),
    ).to_dict()
    return report


def test_dashboard_is_offline_with_one_image_per_plot(mon_book) -> None:
    files = render_dashboard(_full_report(mon_book))
    pngs = sorted(k for k in files if k.endswith(".png"))
    assert pngs == [
        "contact_age_band.png", "oe.png", "psi.png", "roll_rates.png", "vintage.png",
    ]  # fmt: skip
    for name in pngs:
        assert files[name][:8] == b"\x89PNG\r\n\x1a\n"
    page = files["report.html"].decode("utf-8")
    assert not re.search(r"https?://", page)
    assert "<script" not in page
    imgs = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+"', page)
    assert len(imgs) == len(pngs)
    assert "adverse_impact_ratio" in page
    assert "group 18-34: phone contact rate AIR" in page  # the skewed group's flag is shown
    assert "2026-01" in page and "age_band" in page


def test_dashboard_without_portfolio_or_tiers_has_fewer_plots(mon_book) -> None:
    reference, current = mon_book
    files = render_dashboard(run_monitor(reference, current).to_dict())
    pngs = sorted(k for k in files if k.endswith(".png"))
    assert pngs == ["oe.png", "psi.png"]
    page = files["report.html"].decode("utf-8")
    assert page.count("<img ") == 2


@pytest.mark.slow
def test_dashboard_renders_in_headless_chromium(mon_book, chromium, tmp_path) -> None:
    for name, data in render_dashboard(_full_report(mon_book)).items():
        (tmp_path / name).write_bytes(data)
    page = open_page(
        tmp_path / "report.html",
        chromium,
        tmp_path,
        {"tables": "return document.querySelectorAll('table').length;"},
    )
    assert len(page["images"]) == 5
    assert not page["broken"], f"images that did not load: {page['broken']}"
    assert page["tables"] >= 2  # periods and the fairness table at least
