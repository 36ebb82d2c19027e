"""A report opened in real headless Chromium, offline: what a reviewer's browser would show.

`chromium` (a session fixture in tests/conftest.py) finds Debian's chromium + chromium-driver or
installs them; `open_page` loads a file and returns the page's title, its images (loaded or not)
and the values of any extra JavaScript expressions.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
IMAGES_JS = (
    "return Array.from(document.images).map(i => "
    "({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}));"
)


def find_or_install_chromium() -> Path:
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


def open_page(
    page: Path, chromium: Path, tmp_path: Path, scripts: dict[str, str] | None = None
) -> dict[str, Any]:
    """Load `page` headless; returns {"title", "images", "broken"(alts), **scripts' results}."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

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
        driver.get(page.as_uri())
        out: dict[str, Any] = {"title": driver.title, "images": driver.execute_script(IMAGES_JS)}
        for name, js in (scripts or {}).items():
            out[name] = driver.execute_script(js)
    finally:
        driver.quit()
    out["broken"] = [
        i["alt"] for i in out["images"] if not (i["complete"] and i["w"] > 0 and i["h"] > 0)
    ]
    return out
