"""OpenSMTPD 6.8 from Debian in a chroot: `smtpd -d -v` in the foreground, logging to a file.

It keeps a domain's MX list in memory, so each case starts a fresh daemon; its resolver
(libasr) needs the namespace's second loopback address, which the harness's namespace
has. Its greeting timeout is a fixed 300 s: the wait bounds it (docs/lab.md#opensmtpd-68).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from mxsim.agree.chroots import ChrootSpec
from mxsim.agree.errors import AgreeError
from mxsim.agree.mtas.base import (
    HOSTNAME,
    MESSAGE,
    SENDER,
    Driver,
    Parsed,
    chroot_argv,
    chroot_run,
    connect_result,
    read_lines,
    submission_argv,
)
from mxsim.agree.observation import Try
from mxsim.errors import ParameterError
from mxsim.units import parse_duration

CONFIG = f"""# mxsim agreement harness: relay everything submitted locally, nothing else.
table aliases file:/etc/aliases
listen on 127.0.0.1
action "relay" relay helo {HOSTNAME}
match from local for any action "relay"
"""
SOCKET = "run/smtpd.sock"
START_TIMEOUT = 15.0

CONNECTING = re.compile(r"mta connecting address=\w+://(?P<addr>\[[^\]]+\]|[^:\s]+):\d+ host=(?P<host>\S+)")
SESSION = re.compile(r"\b(?P<sid>[0-9a-f]{16}) mta ")
ERROR = re.compile(r"(?P<sid>[0-9a-f]{16}) mta error reason=(?P<why>.*)$")
DELIVERY = re.compile(
    r"(?P<sid>[0-9a-f]{16}) mta delivery evpid=\S+ from=<[^>]*> to=<(?P<to>[^>]*)> .*?"
    r"relay=\"(?P<relay>[^\"]*)\".*?result=\"(?P<result>[^\"]+)\" stat=\"(?P<stat>[^\"]*)\""
)
# "smtp-out: Failed to resolve MX for [relay:example.com,smtp]: No MX found for domain" and
# the envelope-level failure lines that carry no session.
RELAY_FAILURE = re.compile(
    r"(?:delivery|envelope).*to=<(?P<to>[^>]*)>.*result=\"(?P<result>[^\"]+)\"(?: stat=\"(?P<stat>[^\"]*)\")?"
)
RESULTS = {"Ok": "delivered", "TempFail": "deferred", "PermFail": "bounced", "Loop": "bounced"}
# The profile's session parameters by their smtpd.conf words (parse.y `mta limit`, limit.c).
LIMITS = {"session_keepalive": "session-keepalive", "session_mail_max": "session-mail-max"}


def _whole(value: str) -> int:
    """A count or a duration (as the profile reads it) in whole seconds, as smtpd.conf takes it."""
    try:
        return int(parse_duration(value))
    except ParameterError as error:
        raise AgreeError(str(error)) from None


def _error_result(why: str) -> str:
    lowered = why.lower()
    if (banner := re.match(r"banner rejected: (\d)", lowered)) is not None:
        return "rejected" if banner.group(1) == "5" else "tempfail"
    if "connection timeout" in lowered:
        return "timeout"  # also a greeting timeout; told apart by whether it connected
    if "closed unexpectedly" in lowered:
        return "closed"
    return connect_result(why)


class OpenSmtpd(Driver):
    name = "opensmtpd"
    chroot = ChrootSpec("opensmtpd", ("opensmtpd",), "opensmtpd")
    concurrent_host_lookups = True
    wait_limit = 360.0  # the fixed 300 s io timeout, plus the rest of the attempt
    # bounce.c `bounce_add` sets the bounce's timeout a second ahead and `bounce_drain` runs on
    # a whole-second timer: the bounce is queued 1-2 s after the failure, then routed.
    bounce_quiet = 3.0
    shared: ClassVar[Mapping[str, str]] = {}
    process: subprocess.Popen[bytes] | None = None

    def prepare(self, root: Path, settings: Mapping[str, str], mta_config: Path | None) -> None:
        if mta_config is not None:
            raise AgreeError("--mta-config is read for Postfix only")
        unsupported = sorted(set(settings) - {"queue_ttl", "bounce_warn_interval", *LIMITS})
        if unsupported:
            raise AgreeError(f"OpenSMTPD settings not mapped onto smtpd.conf: {', '.join(unsupported)}")
        limits = " ".join(f"{LIMITS[name]} {_whole(value)}" for name, value in sorted(settings.items())
                          if name in LIMITS)
        (root / "etc/smtpd.conf").write_text(CONFIG + (f"mta limit {limits}\n" if limits else ""))
        (root / "etc/mailname").write_text(HOSTNAME + "\n")
        chroot_run(root, ["smtpd", "-n", "-f", "/etc/smtpd.conf"], what="smtpd -n (config check)")

    def start(self, root: Path, folder: Path) -> None:
        log = (folder / "smtpd.log").open("wb")
        self.process = subprocess.Popen(
            chroot_argv(root, ["smtpd", "-d", "-v", "-f", "/etc/smtpd.conf"]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AgreeError(f"smtpd exited at start: {read_lines(folder / 'smtpd.log')[-5:]}")
            if (root / SOCKET).exists():
                return
            time.sleep(0.1)
        raise AgreeError(f"smtpd made no control socket within {START_TIMEOUT:g} s")

    def submission(self, recipient: str) -> list[str]:
        return submission_argv(["/usr/sbin/sendmail", "-oi"], recipient)

    def submit(self, root: Path, folder: Path, recipient: str, token: str) -> None:
        chroot_run(
            root, self.submission(recipient),
            stdin=MESSAGE.format(sender=SENDER, recipient=recipient, token=token),
            what="smtpctl sendmail",
        )

    def log_lines(self, root: Path, folder: Path) -> list[str]:
        return read_lines(folder / "smtpd.log")

    def stop(self, root: Path, folder: Path) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def parse(self, lines: Sequence[str], recipient: str) -> Parsed:
        parsed = Parsed()
        sessions: dict[str, Try] = {}
        greeted: set[str] = set()
        for line in lines:
            sid = SESSION.search(line)
            if (match := CONNECTING.search(line)) is not None and sid is not None:
                sessions[sid["sid"]] = Try(match["host"], match["addr"].strip("[]"), "")
                parsed.evidence.append(line)
            elif sid is not None and "mta connected" in line:
                greeted.add(sid["sid"])
            elif (match := ERROR.search(line)) is not None and match["sid"] in sessions:
                base = sessions.pop(match["sid"])
                result = _error_result(match["why"])
                if result == "timeout" and match["sid"] in greeted:
                    result = "banner_timeout"
                parsed.attempts.append(Try(base.host, base.address, result))
                parsed.evidence.append(line)
            elif (match := DELIVERY.search(line)) is not None and match["to"].lower() == recipient.lower():
                parsed.evidence.append(line)
                outcome = RESULTS.get(match["result"], match["result"])
                if outcome == "delivered" and match["sid"] in sessions:
                    base = sessions.pop(match["sid"])
                    parsed.attempts.append(Try(base.host, base.address, "accepted"))
                parsed.outcome, parsed.envelope_recipient = outcome, match["to"]
                relay = re.match(r"^(?P<host>\S+) \((?P<addr>[^)]+)\)$", match["relay"])
                if relay is not None:
                    parsed.pair(relay["host"], relay["addr"])
                else:
                    parsed.name(match["relay"])
                break
            elif (match := RELAY_FAILURE.search(line)) is not None and match["to"].lower() == recipient.lower():
                parsed.evidence.append(line)
                parsed.outcome = RESULTS.get(match["result"], match["result"])
                parsed.envelope_recipient = match["to"]
                break
            elif "smtp-out:" in line or "mta error" in line:
                parsed.evidence.append(line)
        return parsed
