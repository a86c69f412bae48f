"""The finding catalogue: unique stable IDs, a level, an RFC and a template each, documented,
and every ID raised by the checks with exactly the arguments its template uses."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

import mxsim
from mxsim.audit.catalog import CATALOG, CATALOG_LIST, Level, markdown
from mxsim.audit.finding import FindingArgumentError, finding

ROOT = Path(mxsim.__file__).parent.parent
# Every module of the audit layer that raises findings (checks.py, and sts_history.py for a timeline).
RAISERS = sorted((Path(mxsim.__file__).parent / "audit").glob("*.py"))
ID_FORM = re.compile(r"^(DEL|NS|AA|TTL|APEX|CONS|MX|SPF|SMTP|PATH|STS)\d\d_[A-Z0-9_]+$")
# The one vocabulary of argument names (catalog.py's docstring lists it).
VOCABULARY = {
    "domain", "zone", "ns", "ns_ip", "backend", "qtype", "rd", "share", "count", "target", "mx", "host",
    "address", "variants", "parent", "parent_ns", "child_ns", "serials", "ttls", "rrset", "rcode", "error",
    "loss", "reason", "types", "mtas", "outcome", "reply", "queries", "backends", "result",
    "url", "patterns", "max_age", "window", "policy_id", "at", "since",
}


def test_ids_are_unique_and_well_formed() -> None:
    ids = [spec.id for spec in CATALOG_LIST]
    assert len(ids) == len(set(ids))
    assert len(CATALOG) == len(ids)
    for id_ in ids:
        assert ID_FORM.match(id_), id_
    numbers = [id_.split("_")[0] for id_ in ids]
    assert len(numbers) == len(set(numbers)), "a prefix and number names one finding"


@pytest.mark.parametrize("spec", CATALOG_LIST, ids=lambda s: s.id)
def test_each_entry_is_complete(spec: object) -> None:
    from mxsim.audit.catalog import FindingSpec

    assert isinstance(spec, FindingSpec)
    assert isinstance(spec.level, Level)
    assert spec.rfc.startswith("RFC ")
    assert spec.about.strip() and spec.template.strip()
    fields = {name for _, name, _, _ in string.Formatter().parse(spec.template) if name}
    assert fields == set(spec.args)
    assert set(spec.args) <= VOCABULARY, set(spec.args) - VOCABULARY
    text = spec.template.format(**{arg: f"<{arg}>" for arg in spec.args})
    assert "{" not in text


def test_docs_are_generated_from_the_catalogue() -> None:
    page = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    assert page == markdown(), "regenerate: python -m mxsim.audit.catalog > docs/findings.md"
    for spec in CATALOG_LIST:
        assert f"`{spec.id}`" in page and f"**{spec.id}**" in page


def _finding_calls() -> list[tuple[str, set[str] | None, str]]:
    """(ID, keyword names or None when built from a dict, file:line) of each finding(...) call."""
    calls = []
    for path in RAISERS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "finding":
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    dynamic = any(k.arg is None for k in node.keywords)
                    names = None if dynamic else {k.arg for k in node.keywords if k.arg is not None}
                    calls.append((first.value, names, f"{path.name}:{node.lineno}"))
    return calls


def test_every_id_is_raised_with_its_arguments() -> None:
    calls = _finding_calls()
    raised = {id_ for id_, _, _ in calls}
    source = "".join(path.read_text() for path in RAISERS)
    for spec in CATALOG_LIST:
        # Dynamic ids (CONS*, AA0x) come from a table in checks.py: named there as literals.
        assert spec.id in raised or f'"{spec.id}"' in source, f"{spec.id} is never raised"
    for id_, names, line in calls:
        assert id_ in CATALOG, f"{line} raises unknown {id_}"
        if names is not None:
            assert names == set(CATALOG[id_].args), f"{line} {id_}: {names} != {CATALOG[id_].args}"


def test_wrong_arguments_are_refused() -> None:
    with pytest.raises(FindingArgumentError):
        finding("MX05_NO_MX", domain="example.org", extra="x")
    with pytest.raises(FindingArgumentError):
        finding("MX05_NO_MX")
    with pytest.raises(FindingArgumentError):
        finding("XX01_UNKNOWN")
    made = finding("MX05_NO_MX", domain="example.org")
    assert made.message.startswith("example.org has no MX record")
    assert made.level == Level.NOTICE
