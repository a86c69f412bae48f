"""Frozen dataclasses that cross processes (Dask workers, the lab's helpers) pickled by
their fields and rebuilt by their constructor.

Plain Python pickles a frozen dataclass by setting its slots behind the frozen guard. A
class compiled by mypyc (the compiled build, setup.py) sets them through that guard, and
unpickling fails with FrozenInstanceError; rebuilt through `__init__`, both builds give
the same object. Each module of the compiled build calls `by_fields` on its globals.
"""

from __future__ import annotations

import copyreg
import dataclasses
from collections.abc import Mapping
from typing import Any


def _rebuild(obj: Any) -> tuple[type, tuple[Any, ...]]:
    return type(obj), tuple(getattr(obj, field.name) for field in dataclasses.fields(obj))


def by_fields(namespace: Mapping[str, Any]) -> None:
    """Register every frozen dataclass defined in `namespace` (a module's globals)."""
    module = namespace["__name__"]
    for value in list(namespace.values()):
        if (isinstance(value, type) and value.__module__ == module and dataclasses.is_dataclass(value)
                and value.__dataclass_params__.frozen):  # type: ignore[attr-defined]
            if not all(field.init for field in dataclasses.fields(value)):
                raise TypeError(f"{value.__qualname__}: a field outside __init__ cannot be rebuilt from fields")
            copyreg.pickle(value, _rebuild)
