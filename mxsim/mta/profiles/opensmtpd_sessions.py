"""OpenSMTPD's relays and the sessions it keeps open between messages, per sender.

What OpenSMTPD 6.8.0p2 keeps (usr.sbin/smtpd/mta.c, mta_session.c, limit.c):

- A message for a domain joins the domain's *relay* (`mta_relay`, one per domain and
  dispatcher). The relay holds an `mta_domain` whose MX list (`domain->mxs`, every MX
  host's addresses, from one `IMSG_MTA_DNS_HOST` exchange with the lookup process) is
  asked only while `domain->lastmxquery == 0` (`mta_drain`): once per relay lifetime.
  A message that joins a living relay asks no DNS question, not even the PTR of an
  address the relay has already connected to (`host->lastptrquery`, `mta_session`).
- The relay lives while anything holds a reference to it (`mta_relay_unref`): a pending
  task (a message not yet delivered or flushed), an MX query in flight, an open session.
  When its tasks fail on every route it flushes them all with one error (`mta_flush`),
  so a message that joined a relay whose delivery fails fails with it. Its last reference
  gone, it is freed with its domain and MX list (`mta_domain_unref`); the next message to
  the domain asks DNS afresh.
- A session that has delivered a message and finds no task waits for one: the "hangon"
  timer of `mta_session.c` (`MTA_READY`) polls every second and quits after
  `sessdelay_keepalive` polls (limit.c: 10; smtpd.conf `mta limit session-keepalive`);
  a transaction resets the count (`MTA_MAIL`). A message that arrives meanwhile is taken
  at the next poll, over the open connection, to the host the session is connected to.
  A session quits after `max_mail_per_session` messages (limit.c: 100;
  `mta limit session-mail-max`). With one session ready and one task, no second
  connection is opened (`mta_connect`: `nconn_ready >= ntask`); when messages wait
  for a session that polls, a second one is, and an idle session quits while another
  is open (`MTA_READY`: `relay->nconn > 1`), so under a steady stream sessions overlap
  and the relay is never left without one.

So a stream of messages less than 10 s apart rides one session and one DNS answer, and
past a session's 100 messages the relay opens another from the same MX list: real
OpenSMTPD sent 240 messages half a second apart to one host on two farms where a fresh
answer per 100 would have drawn again (docs/agreement.md). With more than 10 s between
them each message asks DNS afresh.

The model keeps one `Relay` per domain in a `Relays` object held by the sender. It
follows the relay through its phases, `Relays.state()` says which (a memo may key on
it): none (the next message routes afresh), routing (a delivery holds the relay and its
route; a message arriving meanwhile joins it: the same route, no DNS of its own), an
open session (a message arriving within the keepalive rides it: no DNS, no connection),
and a relay whose session reached its mail limit (the next message within the keepalive
connects anew from the kept route, asking no DNS). What it does not model: a joining
message repeats the opener's connections instead of waiting for their outcome (its
outcome is the same, its time up to one attempt later); the per-route penalties
(`mta_route_disable`) that outlive a relay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from mxsim.mta.results import Delivery, Kept, Route, Target
from mxsim.mta.stub import StubAnswer

KEEPALIVE: Final = 10.0  # limit.c: sessdelay_keepalive, polls of one second
MAIL_MAX: Final = 100  # limit.c: max_mail_per_session
# What the model logs for a message taken over a kept session (the real one logs only its delivery).
RIDE_WORDS: Final = "sent over the session kept open to {address}"


class Phase(StrEnum):
    ROUTING = "routing"  # a delivery holds the relay and its route, its outcome not known yet
    SESSION = "session"  # a session is open to `Relay.session`, waiting for mail
    RELAY = "relay"  # the session quit at its mail limit; the next message connects from the kept route


@dataclass(slots=True)
class Relay:
    route: Route
    phase: Phase
    answers: tuple[StubAnswer, ...] = ()  # what the lookups that made `route` read
    session: Target | None = None
    last: float = 0.0  # when the session last ended a transaction: its hangon polls count from here
    carried: int = 0  # messages the session has sent


@dataclass(slots=True)
class Relays:
    """One sender's relays by domain; a domain without one routes afresh."""

    keepalive: float = KEEPALIVE
    mail_max: int = MAIL_MAX
    by_domain: dict[str, Relay] = field(default_factory=dict)

    def state(self) -> tuple[tuple[str, str, str, float, int], ...]:
        """What is kept, as a value: per domain its phase, the session's address, when the
        session last sent and how many messages it carried. Empty: nothing kept."""
        return tuple(sorted(
            (domain, str(relay.phase), relay.session.address if relay.session else "", relay.last, relay.carried)
            for domain, relay in self.by_domain.items()))

    def kept(self, domain: str, now: float) -> Kept | None:
        """The relay a message arriving `now` joins, or the session it rides; None: route afresh."""
        relay = self.by_domain.get(domain)
        if relay is None:
            return None
        if relay.phase == Phase.ROUTING:
            return Kept(relay.route, relay.answers)
        if now - relay.last >= self.keepalive:
            del self.by_domain[domain]  # the session quit after its last poll: the relay was freed
            return None
        if relay.phase == Phase.RELAY or relay.session is None:
            relay.phase = Phase.ROUTING  # a new session from the kept MX list: this message connects
            return Kept(relay.route, relay.answers)
        session = relay.session
        # Taken at the next hangon poll, whole seconds after the last transaction ended.
        relay.last += math.ceil(now - relay.last)
        self._carried(relay)
        return Kept(relay.route, relay.answers, session, RIDE_WORDS.format(address=session.address))

    def _carried(self, relay: Relay) -> None:
        relay.carried += 1
        if relay.carried >= self.mail_max:
            # The session quits; mail keeps coming, so the relay opens another from its MX list.
            relay.phase, relay.session = Phase.RELAY, None

    def routed(self, domain: str, route: Route, answers: tuple[StubAnswer, ...]) -> None:
        """A delivery found its targets: the relay holds them until its outcome."""
        if route.failure is None and route.targets and domain not in self.by_domain:
            self.by_domain[domain] = Relay(route, Phase.ROUTING, answers)

    def done(self, domain: str, delivery: Delivery) -> None:
        """A delivery that used the relay's route ended: a session opens, or the relay goes."""
        relay = self.by_domain.get(domain)
        if relay is None or delivery.route is not relay.route or not delivery.attempts:
            return  # another relay's message, or one that rode the session (counted in `kept`)
        end = delivery.started + delivery.elapsed
        target = delivery.delivered_to
        if relay.phase == Phase.ROUTING:
            if target is None or self.keepalive <= 0:
                del self.by_domain[domain]  # flushed with the error, or the session quits at once
                return
            relay.phase, relay.session, relay.last, relay.carried = Phase.SESSION, target, end, 0
            self._carried(relay)
        elif target is not None and target == relay.session:
            # A message that joined while the relay was routing: the open session carried it.
            relay.last = max(relay.last, end)
            self._carried(relay)
