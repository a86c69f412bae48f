"""JSON Schemas (draft 2020-12) of the scenario format and of every JSON output.

Compatibility: a field added keeps `schema_version`; a field removed, renamed or given
another meaning bumps it. `mxsim schema NAME` prints one.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from mxsim.errors import UsageError

NAMES = ("scenario", "trace", "replay", "replay-runs", "check", "check-line", "agree")


def schema_text(name: str) -> str:
    if name not in NAMES:
        from difflib import get_close_matches

        close = get_close_matches(name, NAMES, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UsageError(f"no schema named {name!r}; {hint}expected one of: {', '.join(NAMES)}")
    return files("mxsim.schemas").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_text(name))
    return loaded
