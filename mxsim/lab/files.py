"""Opening files in the lab's state folder without following symbolic links.

Every open names one entry of the folder and uses O_NOFOLLOW: a link planted under a
name the lab uses makes the open fail instead of reaching the file it points to.
Whole files are written fresh (the old entry unlinked, the new one created with
O_EXCL), so the lab never writes into a file someone else made. Modes are set with
fchmod after creation: the umask can neither widen nor narrow them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

PRIVATE = 0o600  # received messages, logs, the lab's own records
SHARED = 0o644  # root hints and resolv.conf: for clients to read, nobody else to write
PRIVATE_FOLDER = 0o700
PARENT_FOLDER = 0o755  # missing folders above the state folder (the umask applies to these)
PARTIAL = ".partial"

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # NONBLOCK: a FIFO must not hang an open


def _regular_or_close(fd: int, path: Path) -> int:
    """The descriptor if it is a regular file; closed, and an error, if not."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    os.set_blocking(fd, True)
    return fd


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_file(path: Path, data: bytes, mode: int = PRIVATE) -> None:
    """A new regular file at `path` holding `data`; whatever the name held before is unlinked."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # unlink removes a link itself, never what it points to
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        write_all(fd, data)
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes, mode: int = PRIVATE) -> None:
    """Write atomically: a reader polling the folder never sees half a file."""
    partial = path.with_name(path.name + PARTIAL)
    write_file(partial, data, mode)
    os.replace(partial, path)  # rename replaces the entry, even a link, without following it


def open_append(path: Path, mode: int = PRIVATE) -> int:
    """A descriptor appending to the regular file at `path` (created if missing)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, mode)
    fd = _regular_or_close(fd, path)
    try:
        os.fchmod(fd, mode)
    except OSError:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, limit: int, start: int = 0) -> bytes | None:
    """Up to `limit` bytes of the regular file at `path` from `start`; None if it cannot be read."""
    try:
        fd = _regular_or_close(os.open(path, os.O_RDONLY | _NOFOLLOW), path)
    except OSError:
        return None
    try:
        if start < 0:
            start = max(0, os.fstat(fd).st_size + start)
        chunks: list[bytes] = []
        remaining = limit
        offset = start
        while remaining > 0:
            chunk = os.pread(fd, min(remaining, 1 << 20), offset)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
            offset += len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def size(path: Path) -> int:
    try:
        info = os.lstat(path)
    except OSError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def make_folder(path: Path) -> None:
    """Create the folder `path` (0700; an error if it exists) and whatever of its parents is missing."""
    missing = []
    for parent in path.parents:
        if os.path.lexists(parent):
            break
        missing.append(parent)
    for parent in reversed(missing):
        os.mkdir(parent, PARENT_FOLDER)
    os.mkdir(path, PRIVATE_FOLDER)
    os.chmod(path, PRIVATE_FOLDER)  # the umask may narrow a mode: say it outright
