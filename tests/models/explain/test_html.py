"""The report renders in a real browser, offline: every embedded image decodes and has a size."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium + chromium-driver, installed on first use where they are missing."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        apt = shutil.which("apt-get")
        if apt is None:
            pytest.skip("chromium is not installed and apt-get is unavailable to install it")
        cmd = f"{apt} update -q && DEBIAN_FRONTEND=noninteractive {apt} install -y -q chromium chromium-driver"
        proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0 or not CHROMIUM.exists():
            pytest.skip(
                f"chromium could not be installed (apt-get rc={proc.returncode}): "
                f"{proc.stderr.strip()[-300:]}"
            )
    return CHROMIUM


@pytest.mark.slow
def test_report_images_load_in_headless_chromium(explain_run, chromium, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    root, _ = explain_run
    report = root / "reports/explain/report.html"
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(chromium)
    for arg in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / f'chromium-{uuid.uuid4().hex}'}",
    ]:
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        driver.set_page_load_timeout(60)
        driver.get(report.as_uri())
        title = driver.title
        images = driver.execute_script(
            "return Array.from(document.images).map(i => "
            "({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}));"
        )
        headings = driver.execute_script(
            "return Array.from(document.querySelectorAll('h2')).map(h => h.textContent);"
        )
    finally:
        driver.quit()
    assert title == "PD model explanations"
    assert len(images) >= 8
    broken = [i["alt"] for i in images if not (i["complete"] and i["w"] > 0 and i["h"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    assert "Sample accounts" in headings
