"""The lab's claim on its state folder: a marker file listing what the lab wrote there.

`lab up` writes only into a folder it creates, an empty folder, or a folder carrying
its marker (`mxsim-lab.json`); a folder holding anything else and no marker belongs to
someone else and is refused untouched. Each name is listed in the marker before its
file is written, so `lab down` removes only what is listed, and the folder itself only
when the lab made it and nothing else is left in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mxsim.lab import files, state
from mxsim.lab.errors import LabError

MARKER_LIMIT = 1 << 16
# The only names a marker may list: a marker is a file anyone could write, and
# `lab down` must never be talked into removing anything else.
LAB_NAMES = frozenset(state.ALL_FILES) | {name + files.PARTIAL for name in state.ALL_FILES}
MARKER_PARTIAL = state.MARKER + files.PARTIAL


def _why(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


@dataclass(slots=True)
class StateFolder:
    path: Path
    created: bool  # the lab made the folder, so `remove` may take it away when it is empty
    files: list[str] = field(default_factory=list)

    @classmethod
    def prepare(cls, state_dir: str | Path) -> StateFolder:
        """The folder `lab up` may write into: created, adopted while empty, or already marked."""
        path = _absolute(state_dir)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            try:
                files.make_folder(path)
            except OSError as error:
                raise LabError(f"--state {path}: cannot create the folder: {_why(error)}") from None
            return cls(path, created=True)._saved()
        except OSError as error:  # e.g. a path under a file: "not a directory"
            raise LabError(f"--state {path}: {_why(error)}") from None
        if not stat.S_ISDIR(info.st_mode):
            raise LabError(f"--state {path}: a file, not a folder; give the lab a folder of its own")
        marked = cls.existing(path)
        if marked is not None:
            return marked
        try:
            entries = os.listdir(path)
        except OSError as error:
            raise LabError(f"--state {path}: cannot read the folder: {_why(error)}") from None
        if entries:
            raise LabError(
                f"--state {path}: the folder holds files the lab did not write (it has no {state.MARKER}); "
                "give an empty or a new folder"
            )
        return cls(path, created=False)._saved()

    @classmethod
    def existing(cls, state_dir: str | Path) -> StateFolder | None:
        """The folder if it carries a lab's marker (a regular file, not a link); else None."""
        path = _absolute(state_dir)
        raw = files.read_bytes(path / state.MARKER, MARKER_LIMIT)
        if raw is None:
            return None
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("mxsim_lab") != 1:
            return None
        listed = data.get("files")
        names = [n for n in listed if isinstance(n, str) and n in LAB_NAMES] if isinstance(listed, list) else []
        return cls(path, created=data.get("created_folder") is True, files=names)

    def _saved(self) -> StateFolder:
        self.save()
        return self

    def save(self) -> None:
        data = {"mxsim_lab": 1, "created_folder": self.created, "files": self.files}
        text = json.dumps(data, indent=2) + "\n"
        try:
            files.replace_file(self.path / state.MARKER, text.encode("utf-8"))
        except OSError as error:
            raise LabError(f"--state {self.path}: cannot write {state.MARKER}: {_why(error)}") from None

    def claim(self, names: Iterable[str]) -> None:
        """List `names` (and their partial files) before the lab writes them.

        A name already in the folder but not listed is someone else's file: refused,
        nothing written.
        """
        wanted = [n for name in names for n in (name, name + files.PARTIAL)]
        new = [name for name in wanted if name not in self.files]
        assert set(new) <= LAB_NAMES, new
        for name in new:
            if os.path.lexists(self.path / name):
                raise LabError(
                    f"--state {self.path}: {name} is not the lab's (not listed in {state.MARKER}); "
                    "move it away or give another folder"
                )
        if new:
            self.files.extend(new)
            self.save()

    def clear(self) -> None:
        """Remove the files the marker lists; the marker stays."""
        for name in self.files:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                os.unlink(self.path / name)  # a link goes, never what it points to
        self.files = []
        self.save()

    def remove(self) -> None:
        """Remove the listed files and the marker; then the folder, if the lab made it and it is empty."""
        for name in [*self.files, MARKER_PARTIAL, state.MARKER]:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                os.unlink(self.path / name)
        self.files = []
        if self.created:
            with contextlib.suppress(OSError):  # not empty: what is left is someone else's
                os.rmdir(self.path)


def _absolute(state_dir: str | Path) -> Path:
    """The folder as the user named it, through any link in the path given (the lab's own
    files are never opened through one)."""
    try:
        return Path(state_dir).resolve()
    except (OSError, RuntimeError) as error:  # a loop of links
        raise LabError(f"--state {state_dir}: {error}") from None
