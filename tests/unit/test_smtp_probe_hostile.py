"""`mxsim check`'s SMTP probe against misbehaving hosts on 127.0.0.1 (tests/hostile/smtp_servers.py).

Each probe is made as `check` makes it: the wire transport with `--smtp-timeout` as its cap,
STARTTLS asked for. For every misbehaviour: the probe ends within a few timeouts (every wait
is bounded by the one the user gave: the point is seconds, not the five minutes of RFC 5321's
command timeouts), it is reported as what it is (state, detail, finding), and the host never
receives MAIL, RCPT or DATA.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from mxsim.audit.checks import ProbeState, probe_state, smtp_findings
from mxsim.lab.addressmap import ensure_loopback
from mxsim.mta import HELO_NAME
from mxsim.transport.base import SmtpProbe, SmtpSession
from mxsim.transport.destinations import LiveAddresses
from mxsim.transport.wire import WireTransport, run_one
from tests.hostile.smtp_servers import HostileSmtp, Mode

TIMEOUT = 0.5  # --smtp-timeout 0.5s
WITHIN = "500ms"  # as reports write it
# A probe that meets one misbehaviour waits for it once: allow a few timeouts for a loaded
# machine. Before every wait was bounded, these probes took 300 s (RFC 5321's command timeout).
BOUND = 6 * TIMEOUT
HARD_CAP = 20.0  # past it the probe is abandoned, so a regression fails instead of hanging
EHLO = f"EHLO {HELO_NAME}"


@dataclass(frozen=True)
class Probed:
    session: SmtpSession
    seconds: float
    commands: list[str]
    mail_commands: list[str]

    @property
    def state(self) -> str:
        return probe_state(self.session)[0]

    @property
    def detail(self) -> str:
        return probe_state(self.session)[1]

    def findings(self) -> set[str]:
        return {f.id for f in smtp_findings({"127.0.0.1": ("mx.hostile.test", self.session)})}


def probe(mode: Mode, *, drip_interval: float = 1.0) -> Probed:
    """One probe of a host behaving as `mode`, timed."""
    with HostileSmtp(mode, drip_interval=drip_interval) as server:
        transport = WireTransport(LiveAddresses(ensure_loopback), smtp_port=server.port, smtp_timeout=TIMEOUT)
        request = SmtpProbe("127.0.0.1", 25, HELO_NAME, TIMEOUT, TIMEOUT, starttls=True)

        async def go() -> SmtpSession:
            return await asyncio.wait_for(transport.smtp(request), HARD_CAP)

        started = time.monotonic()
        session = run_one(go)
        seconds = time.monotonic() - started
    # The server has stopped: every command it got is recorded.
    return Probed(session, seconds, list(server.commands), server.mail_commands())


def check_bounded(probed: Probed) -> None:
    assert probed.seconds < BOUND, f"the probe took {probed.seconds:.1f} s with --smtp-timeout {TIMEOUT}s"
    assert probed.mail_commands == [], probed.commands


def test_a_well_behaved_host_is_accepted_with_tls_and_ehlo_again_after_it() -> None:
    probed = probe(Mode.ACCEPT)
    check_bounded(probed)
    assert (probed.state, probed.detail) == (ProbeState.ACCEPTED, "220 hostile.test ESMTP")
    assert probed.session.tls_version in ("TLSv1.2", "TLSv1.3") and probed.session.tls_error is None
    assert probed.commands == [EHLO, "STARTTLS", EHLO, "QUIT"]  # RFC 3207 §4.2: EHLO again over TLS
    assert probed.findings() == set()


def test_a_host_ending_lines_with_a_bare_lf_is_accepted() -> None:
    probed = probe(Mode.BARE_LF)
    check_bounded(probed)
    assert (probed.state, probed.detail) == (ProbeState.ACCEPTED, "220 hostile.test ESMTP")
    assert probed.commands == [EHLO, "STARTTLS", EHLO, "QUIT"]


def test_a_host_that_never_greets_is_unknown_after_the_timeout() -> None:
    probed = probe(Mode.SILENT)
    check_bounded(probed)
    assert (probed.state, probed.detail) == (ProbeState.UNKNOWN, f"no greeting within {WITHIN}")
    assert probed.commands == [] and probed.findings() == {"SMTP01_NO_ANSWER"}


def test_a_host_that_closes_at_once_breaks_the_conversation() -> None:
    probed = probe(Mode.CLOSE_AT_ONCE)
    check_bounded(probed)
    assert (probed.state, probed.detail) == (ProbeState.FAILED, "closed before the greeting")
    assert probed.findings() == {"SMTP05_CONVERSATION_FAILS"}


@pytest.mark.parametrize(("mode", "line"), [
    (Mode.TEMPFAIL_GREETING, "421 4.3.2 hostile.test busy, try later"),
    (Mode.REJECT_GREETING, "554 5.7.1 hostile.test does not take mail 5.7.1 go away"),  # on one line
])
def test_a_refusing_greeting_fails_and_is_answered_with_quit(mode: Mode, line: str) -> None:
    probed = probe(mode)
    check_bounded(probed)
    assert (probed.state, probed.detail) == (ProbeState.FAILED, f"greeting {line}")
    assert probed.commands == ["QUIT"]  # RFC 5321 §3.1: the client sends QUIT, nothing else
    assert probed.findings() == {"SMTP02_GREETING_REFUSED"}


def test_a_host_that_never_answers_ehlo_is_unknown_not_accepted() -> None:
    probed = probe(Mode.NO_EHLO_REPLY)
    check_bounded(probed)
    assert (probed.state, probed.detail) == (ProbeState.UNKNOWN, f"no reply to EHLO within {WITHIN}")
    assert probed.commands == [EHLO]  # out of step after a timeout: not even QUIT follows
    assert probed.findings() == {"SMTP01_NO_ANSWER"}


def test_a_host_that_closes_mid_ehlo_fails() -> None:
    probed = probe(Mode.CLOSE_MID_EHLO)
    check_bounded(probed)
    assert (probed.state, probed.detail) == (ProbeState.FAILED, "closed during EHLO")
    assert probed.commands == [EHLO] and probed.findings() == {"SMTP05_CONVERSATION_FAILS"}


@pytest.mark.parametrize(("mode", "reason", "commands"), [
    (Mode.NO_STARTTLS_REPLY, f"no reply to STARTTLS within {WITHIN}", [EHLO, "STARTTLS"]),
    (Mode.NO_HANDSHAKE, f"TLS handshake not done within {WITHIN}", [EHLO, "STARTTLS"]),
    (Mode.NO_EHLO_AFTER_TLS, f"no reply to EHLO after STARTTLS within {WITHIN}", [EHLO, "STARTTLS", EHLO]),
])
def test_a_host_that_hangs_after_starttls_is_a_failed_upgrade(mode: Mode, reason: str, commands: list[str]) -> None:
    """Accepted, as opportunistic senders go on in clear text; SMTP04 for those requiring TLS."""
    probed = probe(mode)
    check_bounded(probed)
    assert probed.state == ProbeState.ACCEPTED
    assert probed.session.tls_error == reason
    assert probed.commands == commands
    assert probed.findings() == {"SMTP04_STARTTLS_FAILS"}


def test_a_missing_quit_reply_after_ehlo_is_noted_and_the_host_still_accepts() -> None:
    probed = probe(Mode.NO_QUIT_REPLY)
    check_bounded(probed)
    assert probed.state == ProbeState.ACCEPTED
    assert probed.detail.startswith(f"220 hostile.test ESMTP; no reply to QUIT within {WITHIN}")
    assert probed.session.tls_version in ("TLSv1.2", "TLSv1.3") and probed.session.tls_error is None
    assert probed.commands == [EHLO, "STARTTLS", EHLO, "QUIT"] and probed.findings() == set()


@pytest.mark.parametrize(("mode", "detail"), [
    (Mode.HUGE_BANNER, "greeting too long (a line over 512 octets)"),
    (Mode.ENDLESS_LINE, "greeting too long (a line over 512 octets)"),
    (Mode.ENDLESS_MULTILINE, "greeting too long (over 100 lines)"),
    (Mode.GARBAGE, "greeting malformed (not an SMTP reply line)"),
])
def test_a_greeting_outside_rfc_5321_is_reported_as_such_not_as_a_close(mode: Mode, detail: str) -> None:
    probed = probe(mode)
    check_bounded(probed)
    assert (probed.state, probed.detail) == (ProbeState.FAILED, detail)
    assert probed.commands == [] and probed.findings() == {"SMTP05_CONVERSATION_FAILS"}
    assert not probed.session.closed


@pytest.mark.parametrize(("mode", "detail"), [
    (Mode.LONG_EHLO_LINE, "reply to EHLO too long (a line over 512 octets)"),
    (Mode.ENDLESS_EHLO_REPLY, "reply to EHLO too long (over 100 lines)"),
])
def test_an_ehlo_reply_outside_rfc_5321_fails(mode: Mode, detail: str) -> None:
    probed = probe(mode)
    check_bounded(probed)
    assert (probed.state, probed.detail) == (ProbeState.FAILED, detail)
    assert probed.commands == [EHLO] and probed.findings() == {"SMTP05_CONVERSATION_FAILS"}


@pytest.mark.parametrize("interval", [1.0, 0.1])
def test_a_drip_fed_greeting_is_bounded_as_a_whole(interval: float) -> None:
    """At 0.1 s a byte, every byte comes well within the timeout, the greeting never does."""
    probed = probe(Mode.DRIP, drip_interval=interval)
    check_bounded(probed)
    assert probed.state == ProbeState.UNKNOWN
    assert probed.detail.startswith(f"greeting incomplete after {WITHIN} (")
    assert probed.commands == [] and probed.findings() == {"SMTP01_NO_ANSWER"}
