"""Debian chroots holding one real MTA each, built once with mmdebstrap and reused.

The MTA packages conflict with each other, so each lives in its own chroot under
`cache_dir()` (default /var/cache/mxsim-agree, or $MXSIM_AGREE_CACHE), built into a
temporary folder and renamed into place only when complete, so an interrupted build
never leaves a half chroot that later runs would trust. A run never writes into the
cached tree: the worker mounts an overlay over it (a fresh upper layer per case).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mxsim.agree.errors import AgreeError
from mxsim.agree.isolation import run

SUITE = "bookworm"
BUILD_TIMEOUT = 900.0
STAMP = ".mxsim-agree.json"
# Extra packages every chroot gets: ps for debugging a stuck MTA by hand.
COMMON = ("procps",)


@dataclass(frozen=True, slots=True)
class ChrootSpec:
    """One MTA's chroot: the packages to install and the package whose version we report."""

    name: str
    packages: tuple[str, ...]
    version_package: str


def cache_dir() -> Path:
    # Absolute, so that no path built on it can be read as an option by the tools it is given to.
    return Path(os.environ.get("MXSIM_AGREE_CACHE", "/var/cache/mxsim-agree")).absolute()


def _mirror_args() -> list[str]:
    """The host's own apt sources, so the chroot gets the versions `apt` would install here."""
    for candidate in (
        Path("/etc/apt/sources.list.d/debian.sources"),
        Path("/etc/apt/sources.list"),
    ):
        if candidate.is_file() and candidate.read_text().strip():
            return [str(candidate)]
    return []  # mmdebstrap's default mirror


def _installed_version(root: Path, package: str) -> str:
    out = run(
        ["chroot", str(root), "dpkg-query", "-W", "-f", "${Version}", package],
        what=f"reading the version of {package} in {root}",
    )
    return out.strip()


def read_stamp(root: Path) -> dict[str, str] | None:
    try:
        data = json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def ensure_chroot(spec: ChrootSpec, *, log: Path | None = None) -> tuple[Path, str]:
    """The cached chroot for `spec` (built if missing) and the MTA package's version."""
    base = cache_dir()
    base.mkdir(parents=True, exist_ok=True)
    root = base / spec.name
    packages = sorted({*spec.packages, *COMMON})
    with _locked(base / f".{spec.name}.lock"):
        stamp = read_stamp(root)
        if stamp is not None and stamp.get("packages") == ",".join(packages):
            return root, stamp["version"]
        if root.exists():
            shutil.rmtree(root)  # a tree without a matching stamp is from an older recipe
        if shutil.which("mmdebstrap") is None:
            raise AgreeError(
                f"cannot build the {spec.name} chroot: mmdebstrap is not installed "
                "(apt-get install mmdebstrap)"
            )
        partial = base / f".{spec.name}.partial"
        if partial.exists():
            shutil.rmtree(partial)
        argv = [
            "mmdebstrap", "--variant=apt", "--include=" + ",".join(packages),
            "--", SUITE, str(partial), *_mirror_args(),
        ]
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as error:
            shutil.rmtree(partial, ignore_errors=True)
            raise AgreeError(
                f"building the {spec.name} chroot took over {BUILD_TIMEOUT:g} s"
            ) from error
        if log is not None:
            log.write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            tail = " | ".join(done.stderr.strip().splitlines()[-6:])
            raise AgreeError(
                f"cannot install {', '.join(spec.packages)} into a {SUITE} chroot "
                f"(mmdebstrap exit {done.returncode}): {tail}"
            )
        version = _installed_version(partial, spec.version_package)
        stamp = {
            "packages": ",".join(packages), "version": version,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": f"{time.monotonic() - started:.1f}",
        }
        (partial / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
        partial.rename(root)
        return root, version


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder per chroot: parallel runs wait instead of building twice."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def overlay(lower: Path, work: Path) -> Iterator[Path]:
    """A writable copy of `lower` for one case (overlayfs), with /proc; unmounted on exit.

    Only for the worker, which runs in its own mount namespace: the mounts never show
    on the host, and vanish with the worker even if it is killed.
    """
    upper, scratch, merged = work / "upper", work / "work", work / "root"
    for folder in (upper, scratch, merged):
        folder.mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={lower},upperdir={upper},workdir={scratch}", str(merged)],
        what=f"mounting an overlay over {lower}")
    mounted = [merged]
    try:
        run(["mount", "-t", "proc", "proc", str(merged / "proc")], what="mounting /proc")
        mounted.append(merged / "proc")
        yield merged
    finally:
        for point in reversed(mounted):
            with contextlib.suppress(AgreeError):
                run(["umount", "-l", str(point)], what=f"unmounting {point}")
