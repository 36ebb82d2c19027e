"""Every relative link in README.md and docs/*.md points at a file of the repository, and the few
result figures the README quotes are the generated results page's figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)


def _targets(page: Path) -> list[str]:
    text = INLINE_CODE.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    return LINK.findall(text) + REFERENCE.findall(text)


def _is_external(target: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)) or target.startswith("#")


def test_the_link_pattern_finds_links_images_and_references(tmp_path):
    page = tmp_path / "x.md"
    page.write_text(
        '[a](docs/a.md) ![p](reports/p.png "t") [w](https://x.org) [s](#top)\n'
        "`[not](a link)`\n```\n[not](either)\n```\n[r]: ../b.md\n",
        encoding="utf-8",
    )
    assert _targets(page) == ["docs/a.md", "reports/p.png", "https://x.org", "#top", "../b.md"]


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1 on repeats."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(
        r"^#{1,6}\s+(.+?)\s*#*$", FENCE.sub("", page.read_text("utf-8")), re.M
    ):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_anchor_slugs_follow_github():
    page = REPO / "docs" / "scale.md"
    assert {"whole-pipeline-on-one-machine", "1-training-on-a-dask-cluster"} <= _anchors(page)
    assert "how-the-cluster-fit-is-made-safe-modelsdistributedpy" in _anchors(page)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve_to_files(page: Path):
    broken = []
    for target in _targets(page):
        if _is_external(target) and not target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path.split("?", 1)[0]).resolve() if path else page
        if not file.exists() or anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)}: links to missing files or headings: {broken}"


def test_the_readme_quotes_only_figures_the_results_page_shows():
    """One figure per fact: a decimal figure in the README must come from docs/results.md."""
    readme = FENCE.sub("", (REPO / "README.md").read_text(encoding="utf-8"))
    results = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    readme = re.sub(r"Python \d+\.\d+", "", readme)  # a version, not a figure
    figures = re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", readme)
    missing = [f for f in figures if f not in results]
    assert not missing, f"README.md figures not on docs/results.md: {missing}"
