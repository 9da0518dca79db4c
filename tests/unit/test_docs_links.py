"""The README and docs/ stay a short front page with working links: every relative link points
at a file that exists (and at a heading that exists, when it names one), every repository path
written in backticks exists, and the README stays under 400 lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A path into the tree as the docs write it: `device/app.py`, `sync/queue/migrations/`.
TREE_PATH = re.compile(r"`((?:base|device|drivers|models|sync|systemd|tests)/[\w./-]*)`")
FENCE = re.compile(r"^(```|~~~)")


def _prose_lines(page: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_anchor(line.lstrip("#")) for line in _prose_lines(page) if line.startswith("#")}


def _broken_links(page: Path) -> list[str]:
    broken = []
    for line in _prose_lines(page):
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            path_part, _, anchor = target.partition("#")
            resolved = (page.parent / path_part).resolve() if path_part else page
            if not resolved.exists():
                broken.append(f"{target}: no such file")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_an_existing_file_and_heading(page: Path) -> None:
    # GIVEN a documentation page WHEN its relative links are resolved THEN each one exists
    assert _broken_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_tree_path_in_backticks_exists(page: Path) -> None:
    # GIVEN a page naming files of the tree WHEN each named path is looked up THEN it exists
    # (placeholders and globs such as `drivers/<role>/base.py` or `tests/scenarios/*.toml` are
    # patterns, not paths, and are skipped)
    named = {m for line in _prose_lines(page) for m in TREE_PATH.findall(line)}
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == []


def test_the_docs_pages_exist_and_the_readme_links_each_one() -> None:
    # GIVEN the docs folder WHEN the README's links are read THEN every page is linked from it
    readme_links = set(LINK.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert pages, "docs/ holds no pages"
    assert [p for p in pages if f"docs/{p}" not in readme_links] == []


def test_the_readme_is_a_front_page_under_400_lines() -> None:
    # GIVEN the README WHEN its lines are counted THEN it stays a front page
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines < 400, f"README.md has {lines} lines: move detail to docs/"
