"""The docs name real code: every name on a **Model** line of docs/mta-behaviour.md and in
the finder table of docs/architecture.md exists in the package, so a rename cannot leave a
reader looking for a function that is gone."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import mxsim

ROOT = Path(__file__).resolve().parents[2]
WORD = re.compile(r"[A-Za-z_]\w*")
PLACES = (("docs/mta-behaviour.md", re.compile(r"^- \*\*Model\*\*: (.*)$")),
          ("docs/architecture.md", re.compile(r"^\| .*? \| `mxsim/.*? \| (.*) \|$")))


def _names() -> dict[str, list[object]]:
    found: dict[str, list[object]] = {}
    for info in pkgutil.walk_packages(mxsim.__path__, "mxsim."):
        if info.name.endswith("__main__"):
            continue
        for name, value in vars(importlib.import_module(info.name)).items():
            found.setdefault(name, []).append(value)
    return found


def test_every_name_the_docs_give_exists() -> None:
    names = _names()
    source = "\n".join(path.read_text() for path in (ROOT / "mxsim").rglob("*.py"))
    missing = []
    for doc, pattern in PLACES:
        for number, line in enumerate((ROOT / doc).read_text().splitlines(), 1):
            match = pattern.match(line)
            if match is None:
                continue
            for token in re.findall(r"`([^`]+)`", match.group(1)):
                where = f"{doc}:{number}: {token}"
                if token.startswith("mxsim/"):
                    if not (ROOT / token.split()[0]).exists():
                        missing.append(where)
                    continue
                if token.endswith(".py") or any(c in token for c in "/ ="):
                    continue  # a file named by itself, a path or a setting
                head, _, attr = token.partition(".")
                if not WORD.fullmatch(head) or (attr and not WORD.fullmatch(attr)):
                    continue  # a value or an expression, not a name
                objects = names.get(head)
                if not objects:
                    if not re.search(rf"\b{re.escape(head)}\b", source):
                        missing.append(where)
                elif attr and not any(hasattr(o, attr) for o in objects) and f"self.{attr}" not in source:
                    missing.append(where)
    assert not missing, "the docs name what the code no longer has:\n" + "\n".join(missing)
