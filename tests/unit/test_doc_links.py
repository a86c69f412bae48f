"""Every reference to the project's documents resolves, so a citation cannot rot.

Checked in every .py, .md and .yaml file of the repository:

* `docs/<name>.md` and `docs/<name>.md#<anchor>`, written anywhere (comments, docstrings, help
  texts, scenario descriptions): the file exists in docs/ and has a heading with that anchor;
* Markdown links `[text](path)`, `[text](path#<anchor>)` and `[text](#<anchor>)` in .md files,
  relative to the file that holds them;
* in docs/*.md, `<name>.md#<anchor>` written as plain text, relative to docs/.

Anchors are made from headings the way GitHub makes them: the heading's text in lower case,
everything but letters, digits, spaces, hyphens and underscores dropped, spaces turned into
hyphens; a repeated slug gets -1, -2, ... Headings inside fenced code blocks do not count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SUFFIXES = {".py", ".md", ".yaml"}
SKIP_DIRS = {"node_modules", "build", "dist", "__pycache__"}

HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
DOCS_REF = re.compile(r"(?<![\w.-])(?:\.\./)*docs/([\w.-]+\.md)(?:#([\w-]+))?")
SIBLING_REF = re.compile(r"(?<![\w./-])([\w-]+\.md)#([\w-]+)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = HEADING.match(line)
        if in_fence or match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(part.startswith(".") or part in SKIP_DIRS or part.endswith(".egg-info") for part in parts):
            continue
        if path.suffix in SUFFIXES and path.is_file():
            yield path


def _references(path: Path, docs: Path) -> Iterator[tuple[int, Path, str | None]]:
    """(line, the document referred to, its anchor or None) for each reference in `path`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for match in DOCS_REF.finditer(line):
            yield number, docs / match.group(1), match.group(2)
        if path.suffix != ".md":
            continue
        for match in MD_LINK.finditer(line):
            target = match.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            if file_part == "" or file_part.endswith(".md") or anchor == "":
                yield number, (path.parent / file_part) if file_part else path, anchor or None
        if path.parent == docs:
            for match in SIBLING_REF.finditer(line):
                yield number, docs / match.group(1), match.group(2)


def broken_references(root: Path) -> list[str]:
    """`file:line: what is missing` for each reference under `root` that does not resolve."""
    broken = []
    for path in _files(root):
        for number, target, anchor in _references(path, root / "docs"):
            where = f"{path.relative_to(root)}:{number}"
            if not target.resolve().is_relative_to(root.resolve()):
                broken.append(f"{where}: {target} is outside the repository")
                continue
            name = target.resolve().relative_to(root.resolve())
            if not target.is_file():
                broken.append(f"{where}: no file {name}")
            elif anchor is not None and target.suffix == ".md" and anchor not in anchors(target):
                broken.append(f"{where}: no heading #{anchor} in {name}")
    return broken


def test_every_reference_to_a_document_resolves() -> None:
    assert broken_references(ROOT) == []


def test_the_check_sees_the_references_it_is_meant_to_check() -> None:
    """The patterns find the references the docs are known to hold (a check that finds none passes)."""
    refs = {(target.name, anchor) for path in _files(ROOT) for _n, target, anchor in _references(path, DOCS)}
    assert ("mta-behaviour.md", "postfix-queue-schedule") in refs  # plain text in docs/lab.md
    assert ("scenario-format.md", "expect") in refs  # a same-file link in docs/scenario-format.md
    assert ("scenario-format.md", None) in refs  # ../docs/scenario-format.md in scenarios/README.md
    assert len(refs) > 20


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Postfix: address limit", "postfix-address-limit"),
    ("unbound as the lab's resolver", "unbound-as-the-labs-resolver"),
    ("MTA-STS (pointers, not run yet)", "mta-sts-pointers-not-run-yet"),
    ("OpenSMTPD 6.8", "opensmtpd-68"),
    ("`expect`", "expect"),
    ("Sendmail 8.17.1.9", "sendmail-81719"),
    ("The 2017 incident, MTA by MTA", "the-2017-incident-mta-by-mta"),
    ("Exit codes: the contract for scripts", "exit-codes-the-contract-for-scripts"),
])
def test_anchors_are_made_the_way_github_makes_them(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_repeated_heading_gets_a_numbered_anchor_and_code_blocks_have_none(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Notes\n\n## Timings\n\n```sh\n# not a heading\n```\n\n## Timings\n")
    assert anchors(doc) == {"notes", "timings", "timings-1"}


def test_a_wrong_anchor_or_a_missing_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "lab.md").write_text("# Lab\n\n## Isolation\n\nSee [there](../../elsewhere.md).\n")
    docs = "docs/"  # split, so that this file's own check does not read these as references
    (tmp_path / "code.py").write_text(f'"""See {docs}lab.md#isolation, {docs}lab.md#isolaton and {docs}gone.md."""\n')
    assert broken_references(tmp_path) == [
        f"code.py:1: no heading #isolaton in {docs}lab.md",
        f"code.py:1: no file {docs}gone.md",
        f"{docs}lab.md:5: {tmp_path / 'docs' / '../../elsewhere.md'} is outside the repository",
    ]
