"""The questions about the sending host and the sender (mxsim/mta/host_questions.py), per profile.

What the real MTAs asked in the lab (docs/agreement.md#the-sending-host): Sendmail its host
name, its interface addresses' reverse names and the sender's domain as a process starts, and
the sender's domain again after a bounce; Postfix and Exim route the sender's domain after a
bounce; OpenSMTPD asks nothing within the attempt. Without a described host nothing is asked.
"""

from __future__ import annotations

import pytest
from factkit import one_mx, questions, reverse, scenario

from mxsim.commands.trace import TraceConfig, run_trace
from mxsim.mta.host_questions import SendingHost
from mxsim.mta.results import Delivery, Outcome
from mxsim.scenario import ScenarioSpec

HOST = SendingHost("mta.sender.example", "agree@sender.example",
                   ("127.0.0.1", "127.0.0.25", "::1", "192.0.2.7", "2001:db8::7", "198.51.100.7"))
SEARCH = {"search_domains": "sender.example"}


def _trace(spec: str | ScenarioSpec, mta: str, host: SendingHost | None,
           overrides: dict[str, str] | None = None) -> Delivery:
    world = scenario(spec) if isinstance(spec, str) else spec
    config = TraceConfig(spec=world, mtas=(mta,), overrides={f"{mta}:{k}": v for k, v in
                                                                      (overrides or {}).items()}, host=host)
    (delivery,) = run_trace(config).deliveries
    return delivery


NXDOMAIN = """
    recipient: user@retired.example
    zones:
      example: |
        $TTL 3600
        @   SOA ns.example. h.example. 1 3600 600 86400 60
        ns  A   192.0.2.53
    """
DELIVERED = one_mx("accept")
# The sender's domain exists, with an MX: Sendmail's host map then holds it as found.
SENDER_EXISTS = NXDOMAIN + """
      sender.example: |
        $TTL 3600
        @   MX  10 mail.sender.example.
        mail  A   192.0.2.99
    """


@pytest.mark.parametrize("mta", ["postfix", "exim", "opensmtpd", "sendmail", "rfc5321"])
@pytest.mark.parametrize("spec", [NXDOMAIN, DELIVERED], ids=["nxdomain", "delivered"])
def test_without_a_described_host_nothing_more_is_asked(mta: str, spec: str | ScenarioSpec) -> None:
    asked = questions(_trace(spec, mta, None))
    own = set(reverse(["127.0.0.25", "192.0.2.7", "198.51.100.7"]))
    assert not [q for q in asked if "sender.example" in q[0] or q in own]


Asked = list[tuple[str, str]]


def _added(spec: str | ScenarioSpec, mta: str,
           overrides: dict[str, str] | None = None) -> tuple[Asked, Asked, Asked]:
    """(questions before the delivery's own, the delivery's own, questions after them)."""
    without = questions(_trace(spec, mta, None, overrides))
    with_host = questions(_trace(spec, mta, HOST, overrides))
    for start in range(len(with_host) - len(without) + 1):
        if with_host[start:start + len(without)] == without:
            return with_host[:start], without, with_host[start + len(without):]
    raise AssertionError(f"the delivery's own questions are not kept in order: {with_host}")


def test_postfix_routes_the_bounce_to_the_senders_domain_mx_then_addresses() -> None:
    before, own, after = _added(NXDOMAIN, "postfix")
    assert own and before == []
    assert after == [("sender.example", "MX"), ("sender.example", "A"), ("sender.example", "AAAA")]


def test_exim_routes_the_bounce_to_the_senders_domain_mx_only_after_nxdomain() -> None:
    before, _own, after = _added(NXDOMAIN, "exim")
    assert before == []
    assert after == [("sender.example", "MX")]


@pytest.mark.parametrize("mta", ["postfix", "exim", "opensmtpd"])
def test_no_bounce_no_question_about_the_sender(mta: str) -> None:
    delivery = _trace(DELIVERED, mta, HOST)
    assert delivery.outcome == Outcome.DELIVERED
    before, _own, after = _added(DELIVERED, mta)
    assert before == [] and after == []


def test_opensmtpd_routes_its_bounce_a_message_of_its_own_mx_only_after_nxdomain() -> None:
    """smtpd/bounce.c queues the bounce a second or two after the failure; the lab's
    unbound log shows its MX question once the worker waits for it."""
    assert _trace(NXDOMAIN, "opensmtpd", HOST).outcome == Outcome.BOUNCED
    before, _own, after = _added(NXDOMAIN, "opensmtpd")
    assert before == []
    assert after == [("sender.example", "MX")]


SENDMAIL_START = [
    ("mta.sender.example", "AAAA"), ("mta.sender.example.sender.example", "AAAA"),
    *reverse(["127.0.0.25", "192.0.2.7", "198.51.100.7"]),  # IPv4, not in /etc/hosts, in interface order
    ("sender.example", "AAAA"), ("sender.example.sender.example", "AAAA"),
]


def test_sendmail_asks_its_name_its_interfaces_and_the_senders_domain_as_it_starts() -> None:
    before, _own, after = _added(DELIVERED, "sendmail", SEARCH)
    assert before == SENDMAIL_START
    assert after == []


def test_sendmail_routes_the_bounce_in_the_same_process_without_canonifying_first() -> None:
    before, _own, after = _added(NXDOMAIN, "sendmail", SEARCH)
    assert before == SENDMAIL_START
    assert after == [("sender.example", "MX"), ("sender.example.sender.example", "MX"),
                     ("sender.example", "AAAA"), ("sender.example.sender.example", "AAAA")]


def test_sendmail_bounce_to_a_sender_domain_it_canonified_asks_only_its_mx() -> None:
    before, _own, after = _added(SENDER_EXISTS, "sendmail", SEARCH)
    # Canonified as it starts (AAAA, A, MX: found), so the DSN's MX lookup searches nothing.
    assert before[-3:] == [("sender.example", "AAAA"), ("sender.example", "A"), ("sender.example", "MX")]
    assert after == [("sender.example", "MX")]


def test_a_null_sender_has_no_domain_to_ask() -> None:
    null = SendingHost("mta.sender.example", "<>", ())
    assert null.sender_domain is None
    delivery = run_trace(TraceConfig(spec=scenario(NXDOMAIN), mtas=("postfix",), host=null)).deliveries[0]
    assert questions(delivery) == questions(_trace(NXDOMAIN, "postfix", None))
