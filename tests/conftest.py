"""Shared fixtures (helpers live in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import copy_repo


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Headless Chromium for the report tests (installed with apt-get where missing)."""
    from tests.browser import find_or_install_chromium

    return find_or_install_chromium()
