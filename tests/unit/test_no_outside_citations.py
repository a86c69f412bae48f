"""Nothing in the repository points a reader at documents they cannot open.

The repository's own citations go to files in it (docs/...) or to upstream sources (an MTA's
or a library's source file, an RFC). Notes kept outside the repository, the paths of the
machine it was written on and tracker numbers mean nothing to a reader of a clone, so the
tracked text files and the `mxsim params` listings (the upstream source beside each default)
must not name them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from mxsim.mta.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = {".py", ".md", ".yaml", ".toml", ".txt"}
EXTRA_FILES = {".ci/run"}

# The names are split so that this file does not match itself.
OUTSIDE = re.compile(
    "|".join(
        (
            re.escape("MTA-" + "FACTS"),
            re.escape("LAB-" + "NOTES"),
            re.escape("SCENARIO" + ".md"),
            re.escape("DESIGN" + ".md"),
            re.escape("STYLE" + ".md"),
            re.escape("/" + "work/"),
            r"\b" + "issue" + r" \d+",
        )
    )
)
# A bare row tag of the outside notes ("(Q7)", "Q2/Q6"). Only mxsim/ and scenarios/ are held
# to it: elsewhere a Q followed by digits can be something else.
ROW_TAG = re.compile(r"\b" + "Q" + r"\d{1,2}\b")
ROW_TAG_DIRS = ("mxsim/", "scenarios/")


@cache
def tracked_text_files() -> tuple[str, ...]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True, timeout=30
    ).stdout.split("\0")
    return tuple(
        path
        for path in listed
        if path and (Path(path).suffix in SUFFIXES or path in EXTRA_FILES) and (ROOT / path).is_file()
    )


def offending_lines(path: str, text: str) -> list[str]:
    row_tags = path.startswith(ROW_TAG_DIRS)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if OUTSIDE.search(line) or (row_tags and ROW_TAG.search(line)):
            found.append(f"{path}:{number}: {line.strip()}")
    return found


def test_the_repository_lists_its_text_files() -> None:
    files = tracked_text_files()
    assert "README.md" in files
    assert "mxsim/mta/profiles/postfix.py" in files
    assert ".ci/run" in files


@pytest.mark.parametrize(
    ("path", "line", "bad"),
    [
        ("mxsim/mta/x.py", "# as MTA-" + "FACTS Q7 says", True),
        ("tests/unit/x.py", '"""See LAB-' + 'NOTES."""', True),
        ("README.md", "see .." + "/shared/DESIGN" + ".md", True),
        ("mxsim/x.py", "# cut at the limit (" + "Q7)", True),
        ("scenarios/x.yaml", "# Q2" + ", Q6", True),
        ("README.md", "path /" + "work/main", True),
        ("mxsim/x.py", "# fixed in issue" + " 12", True),
        ("tests/unit/x.py", "assert Q" + "7 == 3", False),  # a row tag is only looked for in mxsim/, scenarios/
        ("mxsim/x.py", "# the resolver's q" + "name", False),
        ("mxsim/x.py", "# src/global/mail_params.h L290 (docs/mta-behaviour.md#postfix-address-limit)", False),
    ],
)
def test_the_check_tells_an_outside_citation_from_an_upstream_one(path: str, line: str, bad: bool) -> None:
    assert bool(offending_lines(path, line)) == bad


def test_no_tracked_file_cites_an_outside_document() -> None:
    found = []
    for path in tracked_text_files():
        text = (ROOT / path).read_text(encoding="utf-8", errors="replace")
        found.extend(offending_lines(path, text))
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_params_listing_names_upstream_sources_only(profile: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from mxsim.cli import main; main()", "params", profile],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    sources = re.findall(r"\[([^\]]+)\]$", result.stdout, flags=re.MULTILINE)
    assert sources, result.stdout  # every parameter shows where its default comes from
    assert [line for line in result.stdout.splitlines() if OUTSIDE.search(line) or ROW_TAG.search(line)] == []
