"""The documentation links only to files in the repository: a clone has nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# [text](target) and ![alt](target), and reference definitions "[name]: target".
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


def links_in(text: str) -> list[str]:
    """Link targets outside code blocks and inline code spans."""
    text = FENCE.sub("", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


def relative_links(document: Path) -> list[str]:
    found = []
    for target in links_in(document.read_text(encoding="utf-8")):
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        found.append(target)
    return found


def test_the_documents_exist() -> None:
    names = {document.name for document in DOCUMENTS if document.parent.name == "docs"}
    assert {"README.md", "concepts.md", "api.md", "architecture.md", "operations.md"} <= names


def test_the_link_finder_sees_links_and_skips_code() -> None:
    text = 'See [a](a.md), ![b](img/b.png "title") and `[c](c.md)`.\n```\n[d](d.md)\n```\n'
    assert links_in(text) == ["a.md", "img/b.png"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    problems = []
    for target in relative_links(document):
        path_part = target.split("#", 1)[0].split("?", 1)[0]
        if not path_part:
            continue
        resolved = (document.parent / path_part).resolve()
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{target}: leaves the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
    assert not problems, f"{document.relative_to(ROOT)}: " + "; ".join(problems)


UPWARD_PATH = re.compile(r"(?:\.\./)+[\w.-]+(?:/[\w.-]+)*")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_document_names_a_path_outside_the_repository(document: Path) -> None:
    """Not even in code spans or plain text: ``../`` paths must stay in the clone."""
    outside = [
        path
        for path in UPWARD_PATH.findall(document.read_text(encoding="utf-8"))
        if not (document.parent / path).resolve().is_relative_to(ROOT)
    ]
    assert not outside, (
        f"{document.relative_to(ROOT)} names paths outside the repository: {outside}"
    )
