"""Postfix 3.7 from Debian in a chroot: `postfix start`, sendmail(1), maillog_file."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from mxsim.agree.chroots import ChrootSpec
from mxsim.agree.mtas.base import (
    HOSTNAME,
    MESSAGE,
    SENDER,
    SENDER_DOMAIN,
    Driver,
    Parsed,
    chroot_run,
    connect_result,
    read_lines,
    submission_argv,
)
from mxsim.agree.observation import Try

LOG = "var/log/postfix.log"
# Lab plumbing, not behaviour under test (docs/lab.md#postfix): a log file without syslog, no
# listener beyond loopback, and our own names so nothing resolves the host's.
PLUMBING = {
    "myhostname": HOSTNAME,
    "mydomain": SENDER_DOMAIN,
    "myorigin": SENDER_DOMAIN,
    "mydestination": "localhost",
    "inet_interfaces": "loopback-only",
    "maillog_file": "/" + LOG,
    "maillog_file_prefixes": "/var",
    "relayhost": "",
    # Later attempts come quickly if a case waits for them; the first one is compared.
    "queue_run_delay": "5s",
    "minimal_backoff_time": "5s",
}

HOST = r"(?P<host>[^\s\[\]]+)\[(?P<addr>[^\]]+)\]"
CONNECT = re.compile(rf"connect to {HOST}:\d+: (?P<why>.+)$")
GREETING_TIMEOUT = re.compile(rf"conversation with {HOST} timed out while receiving the initial server greeting")
LOST = re.compile(rf"lost connection with {HOST} while receiving the initial server greeting")
REFUSED_TALK = re.compile(rf"host {HOST} refused to talk to me: (?P<code>\d)")
STATUS = re.compile(
    r"to=<(?P<to>[^>]*)>,(?: orig_to=<[^>]*>,)? relay=(?P<relay>[^,]+), .*dsn=(?P<dsn>[\d.]+), "
    r"status=(?P<status>\w+) \((?P<why>.*)\)\s*$"
)
OUTCOMES = {"sent": "delivered", "deferred": "deferred", "bounced": "bounced"}
# TLS required (smtp_tls_policy_maps, MTA-STS) and not had: tls_client.c / smtp_proto.c.
TLS_UNVERIFIED = re.compile(rf"server certificate verification failed for {HOST}:\d+")
TLS_NOT_OFFERED = re.compile(rf"TLS is required, but was not offered by host {HOST}")


def _attempt(line: str) -> Try | None:
    if match := CONNECT.search(line):
        return Try(match["host"], match["addr"], connect_result(match["why"]))
    if match := GREETING_TIMEOUT.search(line):
        return Try(match["host"], match["addr"], "banner_timeout")
    if match := LOST.search(line):
        return Try(match["host"], match["addr"], "closed")
    if match := REFUSED_TALK.search(line):
        return Try(match["host"], match["addr"], "rejected" if match["code"] == "5" else "tempfail")
    if (match := TLS_UNVERIFIED.search(line)) or (match := TLS_NOT_OFFERED.search(line)):
        return Try(match["host"], match["addr"], "tls_failed")
    return None


class Postfix(Driver):
    name = "postfix"
    chroot = ChrootSpec("postfix", ("postfix",), "postfix")
    shared: ClassVar[Mapping[str, str]] = {"smtp_connect_timeout": "2s", "smtp_helo_timeout": "2s"}

    def prepare(self, root: Path, settings: Mapping[str, str], mta_config: Path | None) -> None:
        if mta_config is not None:
            shutil.copyfile(mta_config, root / "etc/postfix/main.cf")
        values = {**settings, **PLUMBING}
        chroot_run(root, ["postconf", "-e", "--", *(f"{k}={v}" for k, v in values.items())],
                   what="postconf -e")
        # Debian runs smtp chrooted and copies resolv.conf at start; `n` keeps it simple.
        chroot_run(root, ["postconf", "-F", "*/*/chroot=n"], what="postconf -F chroot=n")

    def start(self, root: Path, folder: Path) -> None:
        chroot_run(root, ["postfix", "start"], what="postfix start")

    def submission(self, recipient: str) -> list[str]:
        return submission_argv(["/usr/sbin/sendmail", "-oi"], recipient)

    def submit(self, root: Path, folder: Path, recipient: str, token: str) -> None:
        chroot_run(
            root, self.submission(recipient),
            stdin=MESSAGE.format(sender=SENDER, recipient=recipient, token=token),
            what="postfix sendmail",
        )

    def log_lines(self, root: Path, folder: Path) -> list[str]:
        return read_lines(root / LOG)

    def stop(self, root: Path, folder: Path) -> None:
        chroot_run(root, ["postfix", "stop"], what="postfix stop", check=False, timeout=20)

    def parse(self, lines: Sequence[str], recipient: str) -> Parsed:
        parsed = Parsed()
        for line in lines:
            if (status := STATUS.search(line)) is not None and status["to"].lower() == recipient.lower():
                parsed.evidence.append(line)
                parsed.outcome = OUTCOMES.get(status["status"], status["status"])
                parsed.dsn = status["dsn"]
                parsed.envelope_recipient = status["to"]
                relay = re.match(rf"^{HOST}", status["relay"])
                if status["status"] == "sent" and relay is not None:
                    parsed.attempts.append(Try(relay["host"], relay["addr"], "accepted"))
                elif (last := _attempt(status["why"])) is not None and (
                    not parsed.attempts or (parsed.attempts[-1].host, parsed.attempts[-1].address)
                    != (last.host, last.address)
                ):
                    # The status names the last failure; Postfix may not have logged it alone.
                    parsed.attempts.append(last)
                if relay is not None:
                    parsed.name(relay["host"])
                for attempt in parsed.attempts:
                    parsed.name(attempt.host)
                break  # the first attempt's outcome; later queue runs are not compared
            if (found := _attempt(line)) is not None:
                parsed.attempts.append(found)
                parsed.evidence.append(line)
            elif "postfix/smtp[" in line or "warning:" in line:
                parsed.evidence.append(line)
        for attempt in parsed.attempts:
            parsed.name(attempt.host)
        return parsed
