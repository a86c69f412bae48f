"""Hostile servers as inputs: drawn misbehaviours of a DNS world for `check`, of an SMTP host for its probe.

The draw functions make a job (JSON-ready) and a readable description, as `jobs` does for
the other kinds; the run functions start the hostile server on 127.0.0.0/8, drive mxsim
against it in this process, stop the server and return a `Verdict`. The tests call them
directly, the campaign's worker calls them for its `hostile-dns` and `hostile-smtp` jobs.

What passes, for DNS: `check` ends within DNS_BOUND seconds, without a traceback, exit
0-2, and its reports render; when a server loses answers (its mode never gives a usable
reply to some question) the summary never says the mail bounced or the domain does not
exist, and when every server does, the verdict is unknown (exit 2, `unmeasured` non-empty). For SMTP: the probe ends
within SMTP_FACTOR timeouts, the host never receives MAIL, RCPT, DATA or BDAT, and the
probe's state is accepted, failed or unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from tests.hostile import dns_server
from tests.hostile.dns_server import Mode as DnsMode
from tests.hostile.smtp_servers import HostileSmtp
from tests.hostile.smtp_servers import Mode as SmtpMode
from tests.reliability.choice import Chooser, coin, pick
from tests.reliability.verdict import Verdict, traceback_symptom

Job = dict[str, Any]
DOMAIN = "example.test"
RESOLVE_WAIT = 2.0  # seconds for one wire resolution in these checks (a live check waits 10)
DNS_TIMEOUTS = (0.1, 0.2, 0.3)  # --dns-timeout
DNS_BOUND = 40.0  # seconds a check of the hostile world may take (they take 1-8 s on an idle machine)
# Modes under which some question never gets a usable reply from that server.
LOSING = frozenset({
    DnsMode.DROP_MX, DnsMode.MX_POINTER_LOOP, DnsMode.WRONG_QUESTION, DnsMode.TRUNCATE_ALWAYS,
    DnsMode.SELF_REFERRAL, DnsMode.UPWARD_REFERRAL, DnsMode.SERVFAIL_MX, DnsMode.DROP_HOST_ADDRESSES,
    DnsMode.GARBAGE, DnsMode.OVERSIZED_LENGTH, DnsMode.TCP_DRIP,
})
# Modes that lead MX elsewhere than mx.<domain>: its addresses, dropped, may never be asked for.
DIVERTING = frozenset({DnsMode.CNAME_CHAIN, DnsMode.CNAME_LOOP, DnsMode.NXDOMAIN_WITH_ANSWERS})
CONFIDENT = ("bounce", "does not exist")  # what a summary may not say of an answer never obtained
SMTP_TIMEOUT = (0.2, 0.6)  # seconds: --smtp-timeout is drawn in this range
SMTP_FACTOR = 8  # a probe meets one misbehaviour and waits for it about once; room for a loaded machine
SMTP_CAP = 30.0  # past it the probe is abandoned: a hang fails instead of blocking
PROBE_STATES = frozenset({"accepted", "failed", "unknown"})


def _modes(chooser: Chooser, most: int) -> list[str]:
    drawn = {pick(chooser, list(DnsMode)).value for _ in range(chooser.integer(0, most))}
    return sorted(drawn)


def draw_hostile_dns(chooser: Chooser) -> tuple[Job, str]:
    """ns1's modes; sometimes ns2 with its own; sometimes ns1's modes changed while the check runs."""
    job: Job = {"kind": "hostile-dns", "modes": _modes(chooser, 2),
                "dns_timeout": pick(chooser, DNS_TIMEOUTS), "nsid": coin(chooser)}
    text = f"ns1 {'+'.join(job['modes']) or 'well-behaved'}"
    if coin(chooser, 3):
        job["second"] = _modes(chooser, 2)
        text += f", ns2 {'+'.join(job['second']) or 'well-behaved'}"
    if coin(chooser, 4):
        job["later"] = _modes(chooser, 2)
        job["after"] = chooser.integer(1, 20) / 10
        text += f", ns1 {'+'.join(job['later']) or 'well-behaved'} after {job['after']} s"
    return job, f"check {DOMAIN}: {text} (nsid {job['nsid']}, --dns-timeout {job['dns_timeout']})"


def losing_servers(job: Job) -> tuple[int, int]:
    """(servers that never give a usable reply to some question for the whole check, servers)."""
    if "later" in job:
        return 0, 0  # which answers a change mid-run loses depends on timing
    servers = [{DnsMode(m) for m in modes} for modes in [job["modes"], *([job["second"]] if "second" in job else [])]]
    return sum(1 for modes in servers if _loses(modes)), len(servers)


def _loses(modes: set[DnsMode]) -> bool:
    if DIVERTING & modes:
        return bool(LOSING - {DnsMode.DROP_HOST_ADDRESSES} & modes)
    return bool(LOSING & modes)


@contextlib.contextmanager
def _resolve_wait(seconds: float) -> Iterator[None]:
    from mxsim.commands import check_run

    saved = check_run.RESOLVE_WAIT
    check_run.RESOLVE_WAIT = seconds
    try:
        yield
    finally:
        check_run.RESOLVE_WAIT = saved


def run_hostile_dns(job: Job) -> Verdict:
    from mxsim.commands.check import CheckConfig, run_check
    from mxsim.report import check_json, check_text

    second = [DnsMode(m) for m in job["second"]] if "second" in job else None
    started = time.monotonic()
    with dns_server.hostile_dns(DOMAIN, [DnsMode(m) for m in job["modes"]], second=second,
                                nsid=job["nsid"]) as server, _resolve_wait(RESOLVE_WAIT):
        timer = None
        if "later" in job:
            timer = threading.Timer(job["after"], server.set_modes, ([DnsMode(m) for m in job["later"]],))
            timer.start()
        try:
            result = run_check(CheckConfig(server.domain_text, server.root_hints, server.destinations,
                                           dns_port=server.port, smtp=False, samples=2,
                                           dns_timeout=job["dns_timeout"], retries=1, rate=0.0))
            text = check_text.render(result)
            check_json.data(result)
        except Exception as error:
            return Verdict("traceback", *traceback_symptom(error, error.__traceback__))
        finally:
            if timer is not None:
                timer.cancel()
    seconds = time.monotonic() - started
    if seconds > DNS_BOUND:
        return Verdict("hang", f"check took more than {DNS_BOUND:g} s", f"{seconds:.1f} s")
    if result.exit_code not in (0, 1, 2):
        return Verdict("bad-error", f"check exited {result.exit_code}", result.summary[:300])
    losing, servers = losing_servers(job)
    said = [word for word in CONFIDENT if word in result.summary]
    if losing and said:
        return Verdict("wrong", f"answers were lost, yet the summary says {said[0]!r}", text.splitlines()[0][:300])
    # With one server left answering, a resolver asks it instead: a measured verdict is right.
    if losing == servers > 0 and (result.exit_code != 2 or not result.unmeasured):
        return Verdict("wrong", f"every server lost answers, yet the verdict is not unknown (exit {result.exit_code}, "
                       f"{len(result.unmeasured)} unmeasured)", text.splitlines()[0][:300])
    return Verdict("ran", f"exit {result.exit_code}")


def draw_hostile_smtp(chooser: Chooser) -> tuple[Job, str]:
    low, high = (round(t * 100) for t in SMTP_TIMEOUT)
    job: Job = {"kind": "hostile-smtp", "mode": pick(chooser, list(SmtpMode)).value,
                "timeout": chooser.integer(low, high) / 100, "drip_interval": chooser.integer(1, 10) / 10}
    return job, f"probe of a host in mode {job['mode']} (--smtp-timeout {job['timeout']}, " \
                f"drip {job['drip_interval']} s)"


def run_hostile_smtp(job: Job) -> Verdict:
    from mxsim.audit.checks import probe_state, smtp_findings
    from mxsim.lab.addressmap import ensure_loopback
    from mxsim.mta import HELO_NAME
    from mxsim.transport.base import SmtpProbe, SmtpSession
    from mxsim.transport.destinations import LiveAddresses
    from mxsim.transport.wire import WireTransport, run_one

    timeout: float = job["timeout"]
    with HostileSmtp(SmtpMode(job["mode"]), drip_interval=job["drip_interval"]) as server:
        transport = WireTransport(LiveAddresses(ensure_loopback), smtp_port=server.port, smtp_timeout=timeout)
        request = SmtpProbe("127.0.0.1", 25, HELO_NAME, timeout, timeout, starttls=True)

        async def go() -> SmtpSession:
            return await asyncio.wait_for(transport.smtp(request), SMTP_CAP)

        started = time.monotonic()
        try:
            session = run_one(go)
            state, detail = probe_state(session)
            smtp_findings({"127.0.0.1": ("mx.hostile.test", session)})
        except Exception as error:
            return Verdict("traceback", *traceback_symptom(error, error.__traceback__))
        seconds = time.monotonic() - started
    mail = server.mail_commands()  # the server has stopped: every command it got is recorded
    if mail:
        return Verdict("wrong", "the probe sent a mail command", repr(server.commands)[:300])
    if state not in PROBE_STATES:
        return Verdict("wrong", f"the probe's state is {state!r}", detail[:300])
    if seconds > timeout * SMTP_FACTOR:
        return Verdict("hang", f"the probe took more than {SMTP_FACTOR} timeouts",
                       f"{seconds:.1f} s, {state}: {detail}")
    return Verdict("ran", f"{state}: {detail}"[:300])
