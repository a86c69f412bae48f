"""What the harness needs from each real MTA: set it up in a chroot, submit, read its log.

A driver knows one MTA's Debian packaging and log format. `parse` reads log lines in
that format and is applied to the real MTA's log and to the model's `log` alike, so
the names both sides logged are read by one rule.
"""

from __future__ import annotations

import re
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from mxsim.agree.chroots import ChrootSpec
from mxsim.agree.errors import AgreeError
from mxsim.agree.observation import Try, address_text
from mxsim.errors import UsageError, shown

SENDER_DOMAIN = "mxsim-agree.invalid"
SENDER = f"agree@{SENDER_DOMAIN}"
HOSTNAME = f"mta.{SENDER_DOMAIN}"
MESSAGE = (
    "From: <{sender}>\nTo: <{recipient}>\nSubject: mxsim agreement test\n"
    "Message-ID: <{token}@" + SENDER_DOMAIN + ">\n\nOne message from mxsim's agreement harness.\n"
)


@dataclass(slots=True)
class Parsed:
    """What a driver read from log lines about the submitted message."""

    attempts: list[Try] = field(default_factory=list)
    outcome: str | None = None
    dsn: str | None = None
    names: list[str] = field(default_factory=list)
    envelope_recipient: str | None = None
    evidence: list[str] = field(default_factory=list)
    pairs: dict[str, str] = field(default_factory=dict)  # address -> name, from non-attempt lines

    def name(self, host: str) -> None:
        host = host.strip("[]").rstrip(".").lower()
        if host and host not in self.names:
            self.names.append(host)

    def pair(self, host: str, address: str) -> None:
        """A line that names a host and its address (e.g. a relay= field)."""
        self.name(host)
        self.pairs.setdefault(address_text(address), host.strip("[]").rstrip(".").lower())

    def named(self) -> dict[str, str]:
        """Address -> the name the MTA logged beside it (first seen)."""
        out = {t.address: t.host.rstrip(".").lower() for t in reversed(self.attempts)}
        return {**self.pairs, **out}


def connect_result(text: str) -> str:
    """A connect error's words as the model's AttemptResult value."""
    lowered = text.lower()
    if "refused" in lowered:
        return "refused"
    if "no route" in lowered or "unreachable" in lowered:
        return "unreachable"
    if "timed out" in lowered or "timeout" in lowered:
        return "timeout"
    return "unknown: " + text.strip()


class Driver(ABC):
    """One real MTA in a chroot."""

    name: str
    chroot: ChrootSpec
    # Seconds to wait for the first attempt's outcome; the longest fixed timeout the MTA
    # cannot shorten by configuration bounds it (OpenSMTPD's 300 s greeting wait).
    wait_limit: float = 90.0
    # Parameters set on both sides: short timers, so a case takes seconds, not minutes.
    shared: ClassVar[Mapping[str, str]] = {}
    # True when the MTA resolves all MX hosts at once (OpenSMTPD's async resolver): the
    # order of their address questions across preferences is then the order of completion.
    concurrent_host_lookups: bool = False
    # Seconds the resolver's log must stay quiet after a bounce before the run ends: the
    # questions that route the bounce can trail it (OpenSMTPD holds a bounce 1-2 s).
    bounce_quiet: float = 0.5

    def model_overrides(self, user: Mapping[str, str]) -> dict[str, str]:
        """The -o settings for the model: ours, then the user's on top."""
        return {**self.shared, **user}

    @abstractmethod
    def prepare(self, root: Path, settings: Mapping[str, str], mta_config: Path | None) -> None:
        """Write the MTA's configuration into the chroot."""

    @abstractmethod
    def start(self, root: Path, folder: Path) -> None:
        """Start whatever daemons delivery needs (none for MTAs that deliver in-process)."""

    @abstractmethod
    def submission(self, recipient: str) -> list[str]:
        """The command line that hands one message for `recipient` to the MTA (see `submission_argv`)."""

    @abstractmethod
    def submit(self, root: Path, folder: Path, recipient: str, token: str) -> None:
        """Hand one message for `recipient` to the MTA."""

    @abstractmethod
    def log_lines(self, root: Path, folder: Path) -> list[str]:
        """The MTA's log so far."""

    @abstractmethod
    def parse(self, lines: Sequence[str], recipient: str) -> Parsed:
        """Attempts, outcome, DSN, names and envelope from log lines (real or model)."""

    def finished(self, lines: Sequence[str], recipient: str) -> bool:
        return self.parse(lines, recipient).outcome is not None

    def stop(self, root: Path, folder: Path) -> None:  # noqa: B027  (optional hook)
        """Stop daemons gracefully; the worker kills whatever still runs in the chroot."""


# The command prefix that enters the lab's network namespace (`ip netns exec NAME`); set
# once by the worker before any MTA command runs.
ENTER: list[str] = []


def enter_namespace(name: str) -> None:
    ENTER[:] = ["ip", "netns", "exec", name]


def check_recipient(recipient: str) -> str:
    """`recipient` if it can stand on an MTA's command line as an address and nothing else.

    A recipient that begins with `-` would be read as an option by MTAs that stop reading
    options at the first argument only (and `-X/tmp/x@example.org` is an option to Exim
    and Sendmail that writes a file); control characters would reach their logs.
    """
    if recipient.startswith("-") or not recipient.isprintable():
        raise UsageError(
            f"recipient '{shown(recipient)}': expected an address such as user@example.org, "
            "not beginning with `-` and without control characters"
        )
    return recipient


def submission_argv(command: Sequence[str], recipient: str) -> list[str]:
    """`command` (the program and its options), the envelope sender, `--`, the recipient.

    `--` ends the options for every MTA here: Exim documents it as the pseudo-option that
    ends options; Postfix's and OpenSMTPD's sendmail and Sendmail's own parse with
    getopt(3), which stops at it.
    """
    return [*command, "-f", SENDER, "--", check_recipient(recipient)]


def chroot_argv(root: Path, argv: Sequence[str]) -> list[str]:
    """`argv` run inside the chroot and the lab's network namespace.

    The root is made absolute, so it can never be read as an option of chroot(8).
    """
    return [*ENTER, "chroot", str(root.absolute()), *argv]


def chroot_run(
    root: Path, argv: Sequence[str], *, stdin: str | None = None, timeout: float = 60.0,
    what: str = "", check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command inside the chroot (as root, in the worker's namespaces)."""
    try:
        done = subprocess.run(
            chroot_argv(root, argv), input=stdin, capture_output=True, text=True,
            timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise AgreeError(f"{what or argv[0]}: no answer within {timeout:g} s") from error
    if check and done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise AgreeError(f"{what or ' '.join(argv)}: exit status {done.returncode}: {tail}")
    return done


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []


ADDRESS_IN_BRACKETS = re.compile(r"\[(?:IPv6:)?([0-9a-fA-F:.]+)\]")
