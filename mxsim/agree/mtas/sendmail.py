"""Sendmail 8.17 from Debian in a chroot: Debian's sendmail.cf, `sendmail -Am -odi -v`.

Sendmail logs only through syslog (a receiver on the chroot's /dev/log takes it) and
logs one line per recipient, not per host tried; the hosts and addresses tried come from
the delivering process's transcript (`-v`, and `-d16.1`, which prints each
`makeconnection`). Its log shows the recipient as given; the address it would send
(after canonicalisation) is the queue file's final-recipient (`r`) line.
"""

from __future__ import annotations

import re
import subprocess
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
    connect_result,
    read_lines,
    submission_argv,
)
from mxsim.agree.mtas.syslog import SyslogSink
from mxsim.agree.observation import Try

OPTIONS = ("Timeout.iconnect", "Timeout.connect", "Timeout.initial", "Timeout.queuereturn")

# Between dsn= and stat= Sendmail may write reply= (a 5xx greeting: "dsn=5.5.0, reply=554 ...").
STAT = re.compile(r"to=<?(?P<to>[^>,\s]+)>?,.*?dsn=(?P<dsn>[\d.]+), (?:reply=[^,]*, )?stat=(?P<stat>.*)$")
RELAY = re.compile(r"relay=(?P<relay>[^,\s]+)(?: \[(?P<addr>[^\]]+)\])?")
MAKECONNECTION = re.compile(r"makeconnection \((?P<host>\S+?)\.? \[(?P<addr>[^\]]+)\]")
CONNECT_FAILED = re.compile(r"Connect failed \((?P<why>[^)]*)")
REPLY = re.compile(r"^transcript: (?:<<< )?(?P<code>\d)\d\d[ -]")
GREETING_TIMEOUT = re.compile(r"timeout waiting for input from (?P<host>\S+?)\.? during client greeting")
FINAL_RECIPIENT = re.compile(r"^queue: r\w+; *(?P<to>\S+)")
# "queued" (with a 4.x.x dsn): e.g. a name server timeout while parsing the address.
OUTCOMES = (("Sent", "delivered"), ("Deferred", "deferred"), ("queued", "deferred"))


class Sendmail(Driver):
    name = "sendmail"
    chroot = ChrootSpec("sendmail", ("sendmail-bin", "sendmail-cf", "m4", "make"), "sendmail-bin")
    shared: ClassVar[Mapping[str, str]] = {"Timeout.iconnect": "2s", "Timeout.initial": "2s"}
    sink: SyslogSink | None = None
    options: tuple[str, ...] = ()

    def prepare(self, root: Path, settings: Mapping[str, str], mta_config: Path | None) -> None:
        if mta_config is not None:
            raise AgreeError("--mta-config is read for Postfix only")
        unknown = sorted(set(settings) - set(OPTIONS))
        if unknown:
            raise AgreeError(f"Sendmail settings not mapped onto -O options: {', '.join(unknown)}")
        self.options = tuple(f"-O{k}={v}" for k, v in settings.items())
        hosts = root / "etc/hosts"
        hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {HOSTNAME} mta\n")

    def start(self, root: Path, folder: Path) -> None:
        self.sink = SyslogSink(root, folder / "syslog")

    def submission(self, recipient: str) -> list[str]:
        return submission_argv(
            ["/usr/sbin/sendmail", "-Am", "-odi", "-oi", "-v", "-d16.1", *self.options], recipient
        )

    def submit(self, root: Path, folder: Path, recipient: str, token: str) -> None:
        with (folder / "transcript").open("wb") as out:
            try:
                subprocess.run(
                    chroot_argv(root, self.submission(recipient)),
                    input=MESSAGE.format(sender=SENDER, recipient=recipient, token=token).encode(),
                    stdout=out, stderr=subprocess.STDOUT, timeout=self.wait_limit, check=False,
                )
            except subprocess.TimeoutExpired as error:
                raise AgreeError(f"sendmail -odi ran over {self.wait_limit:g} s") from error

    def log_lines(self, root: Path, folder: Path) -> list[str]:
        queue = []
        for qf in sorted((root / "var/spool/mqueue").glob("qf*")):
            queue += ["queue: " + x for x in read_lines(qf) if x.startswith("r")]
        return (read_lines(folder / "syslog") + ["transcript: " + x for x in read_lines(folder / "transcript")]
                + queue)

    def stop(self, root: Path, folder: Path) -> None:
        if self.sink is not None:
            self.sink.close()

    def parse(self, lines: Sequence[str], recipient: str) -> Parsed:
        parsed = Parsed()
        current: tuple[str, str] | None = None  # the connection being made
        greeted = False
        final: str | None = None
        # Syslog names greeting timeouts; the transcript only shows the next host's connect.
        silent = {m["host"].lower() for line in lines if (m := GREETING_TIMEOUT.search(line))}
        for line in lines:
            if line.startswith("queue: "):
                if (found := FINAL_RECIPIENT.match(line)) is not None:
                    final = found["to"]
                continue
            if line.startswith("transcript: "):
                parsed.evidence.append(line)
                current, greeted = self._transcript(parsed, line, current, greeted, silent)
                continue
            match = STAT.search(line)
            if match is None or parsed.outcome is not None:
                continue
            parsed.evidence.append(line)
            stat = match["stat"]
            parsed.outcome = next((o for word, o in OUTCOMES if stat.startswith(word)), "bounced")
            parsed.dsn = match["dsn"]
            if (relay := RELAY.search(line)) is not None:
                if relay["addr"]:
                    parsed.pair(relay["relay"], relay["addr"])
                else:
                    parsed.name(relay["relay"])
        if current is not None:  # the last connection, still open when the transcript ended
            result = "accepted" if greeted and parsed.outcome == "delivered" else "closed"
            parsed.attempts.append(Try(current[0], current[1], result))
        parsed.envelope_recipient = final
        return parsed

    @staticmethod
    def _transcript(
        parsed: Parsed, line: str, current: tuple[str, str] | None, greeted: bool, silent: set[str]
    ) -> tuple[tuple[str, str] | None, bool]:
        """One transcript line: start, greet or end the connection being made."""
        # "Connecting to HOST via esmtp" is the verbose transcript, not the log: it names
        # hosts that had no address too, so only makeconnection (name and address) counts.
        if (match := MAKECONNECTION.search(line)) is not None:
            if current is not None:  # left without a reply: a greeting timeout, or closed
                result = "banner_timeout" if current[0].lower() in silent and not greeted else "closed"
                parsed.attempts.append(Try(current[0], current[1], result))
            return (match["host"], match["addr"]), False
        if current is None:
            return None, greeted
        if (match := CONNECT_FAILED.search(line)) is not None:
            parsed.attempts.append(Try(current[0], current[1], connect_result(match["why"])))
            return None, False
        if "timeout waiting for input" in line and not greeted:
            parsed.attempts.append(Try(current[0], current[1], "banner_timeout"))
            return None, False
        if (match := REPLY.search(line)) is not None and not greeted:
            if match["code"] == "2":
                return current, True
            parsed.attempts.append(
                Try(current[0], current[1], "rejected" if match["code"] == "5" else "tempfail")
            )
            return None, False
        return current, greeted
