"""OpenSMTPD keeps its relay (and the MX list in it) and an idle session for the next message
to the same domain (mxsim/mta/profiles/opensmtpd_sessions.py): what a message asks and where
it goes, by when it arrives."""

from __future__ import annotations

import random
from collections.abc import Mapping

from mxsim.clock import VirtualClock
from mxsim.engine import emulated_ask, resolver_for, send
from mxsim.mta.profiles import make_profile
from mxsim.mta.queue import SenderState
from mxsim.mta.results import AttemptResult, Delivery, Outcome
from mxsim.scenario import ScenarioSpec
from mxsim.transport.model import ModelTransport
from mxsim.transport.simulation import Simulation
from mxsim.world import World
from tests.model.factkit import one_sender, scenario, two_mx


def one_mx(smtp: str = "accept") -> ScenarioSpec:
    return scenario(f"""
zones:
  example.org: |
    $TTL 300
    @ MX 10 mx.example.org.
    mx A 192.0.2.25
hosts:
  mx.example.org: {{smtp: {smtp}}}
recipient: alice@example.org
""")


ONE_MX = one_mx()


def _sent(spec: ScenarioSpec, mta: str, times: list[float], overrides: Mapping[str, str] | None = None,
          ) -> tuple[list[Delivery], SenderState]:
    return one_sender(spec, mta, times, "alice@example.org", overrides)


def _rode(delivery: Delivery) -> bool:
    return delivery.outcome == Outcome.DELIVERED and delivery.dns == () and delivery.attempts == ()


def test_messages_within_the_keepalive_ride_the_session_without_dns() -> None:
    deliveries, sender = _sent(ONE_MX, "opensmtpd", [0.0, 0.5, 1.0, 9.0])
    first, *rest = deliveries
    assert first.dns and [a.result for a in first.attempts] == [AttemptResult.ACCEPTED]
    assert all(_rode(d) for d in rest), [d.reason for d in rest]
    assert {d.delivered_to for d in deliveries} == {first.delivered_to}
    assert rest[0].reason == "sent over the session kept open to 192.0.2.25"
    assert sender.relays is not None
    [(domain, phase, address, _last, carried)] = sender.relays.state()
    assert (domain, phase, address, carried) == ("example.org", "session", "192.0.2.25", 4)


def test_a_message_after_the_keepalive_asks_dns_and_connects_again() -> None:
    # The hangon polls count whole seconds from the last transaction (taken at 1 s here): the
    # session quits at 11 s; a message at 11.5 s finds no relay.
    deliveries, _ = _sent(ONE_MX, "opensmtpd", [0.0, 0.5, 11.5, 12.0])
    assert [_rode(d) for d in deliveries] == [False, True, False, True]
    fresh = deliveries[2]
    assert [a.qtype for a in fresh.dns][:1] == [15] and len(fresh.attempts) == 1  # MX asked again
    assert any(a.qtype == 12 for a in fresh.dns)  # and the PTR: a new relay knows no host's name


def test_other_mtas_route_every_message_afresh() -> None:
    for mta in ("postfix", "exim", "sendmail", "rfc5321"):
        deliveries, sender = _sent(ONE_MX, mta, [0.0, 0.5, 1.0])
        assert all(d.dns and d.attempts for d in deliveries), mta
        assert sender.relays is None


def test_past_its_mail_limit_a_session_is_replaced_and_none_is_kept_without_keepalive() -> None:
    # Past the limit the relay opens a new session from the MX list it holds: a connection, no DNS.
    deliveries, _ = _sent(ONE_MX, "opensmtpd", [0.0, 0.5, 1.0, 1.5, 2.0, 30.0], {"session_mail_max": "3"})
    assert [_rode(d) for d in deliveries] == [False, True, True, False, True, False]
    assert [bool(d.dns) for d in deliveries] == [True, False, False, False, False, True]
    assert [len(d.attempts) for d in deliveries] == [1, 0, 0, 1, 0, 1]
    deliveries, sender = _sent(ONE_MX, "opensmtpd", [0.0, 0.5, 1.0], {"session_keepalive": "0"})
    assert not any(_rode(d) for d in deliveries)
    assert sender.relays is not None and sender.relays.state() == ()


def test_a_failed_delivery_frees_the_relay() -> None:
    deliveries, sender = _sent(one_mx("refuse"), "opensmtpd", [0.0, 0.5])
    assert all(d.outcome == Outcome.DEFERRED and d.dns for d in deliveries)
    assert sender.relays is not None and sender.relays.state() == ()


def test_a_message_arriving_while_the_relay_routes_joins_it() -> None:
    """The second message comes while the first waits on the first MX: it takes the first's
    MX list (no DNS, no PTR), and once a session is open the third rides it."""
    clock = VirtualClock()
    rng = random.Random(1)
    # The first MX drops SYNs: a delivery spends the connect timeout on it before the second takes it.
    transport = ModelTransport(World(two_mx("drop")), clock, rng)
    sim = Simulation(transport)
    resolver = resolver_for(transport.world, clock, rng)
    profile = make_profile("opensmtpd")
    sender = SenderState()
    done: list[Delivery] = []

    def start() -> None:
        sim.start(send(profile, emulated_ask(resolver), rng, "user@example.com", clock.now, sender=sender),
                  done.append)

    for at in (0.0, 10.0, 140.0):
        sim.call_at(at, start)
    states: list[tuple[object, ...]] = []
    sim.call_at(5.0, lambda: states.append(sender.relays.state() if sender.relays else ()))
    sim.run()
    first, joined, rode = sorted(done, key=lambda d: d.started)
    assert states == [(("example.com", "routing", "", 0.0, 0),)]
    assert first.dns and joined.dns == () and rode.dns == () and rode.attempts == ()
    assert [a.result for a in joined.attempts] == [AttemptResult.TIMEOUT, AttemptResult.ACCEPTED]
    assert first.delivered_to == joined.delivered_to == rode.delivered_to
    assert first.delivered_to is not None and first.delivered_to.host == "mx2.example.com"
