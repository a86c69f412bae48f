"""The wire world's transport: the engine's effects fulfilled over real sockets, in the lab.

Same seam as `transport.model` (httpx's swappable transports): `run(step)` drives an
engine generator, answering each `DnsExchange` over DNS sockets of its own (`dns_exchange`)
and each `SmtpProbe` over a socket of its own (`smtp_client`: connect, greeting, EHLO, STARTTLS if
asked and offered, QUIT; never MAIL, RCPT or DATA). Foreign errors are mapped once, here, into
`NetError` / `ConnectResult` by exception type (`net_error`).

The engine speaks the scenario's real-world addresses. On the way out each destination
is mapped to its lab address (`AddressMap`) and checked: inside 127.0.0.0/8, or inside
the network namespace the lab made; on the way in, address records are mapped back, so
traces over the lab show the addresses the scenario wrote.

`time_scale` shrinks every timeout the engine asks for (tests use 0.02: a 30 s connect
timeout waits 0.6 s), and every elapsed time is divided by it on the way back, so the
engine's clock and the reported times stay comparable with the model's.

`mxsim check` also uses this transport for the live world (`LiveAddresses`: no map, no
rewriting) and asks it to be polite: a per-address query rate, a cap on exchanges in
flight, and a cap on every SMTP wait (connect, greeting, each reply, the TLS handshake).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import dns.message
import dns.name

from mxsim.clock import Clock
from mxsim.transport.base import (
    ConnectResult,
    DnsExchange,
    DnsResult,
    Effect,
    FetchStatus,
    NetError,
    PolicyFetch,
    PolicyReply,
    SmtpProbe,
    SmtpSession,
    Step,
)
from mxsim.transport.destinations import Destinations, NoDestinationError, loopback_only
from mxsim.transport.dns_exchange import DnsExchanger

T = TypeVar("T")
SMTP_COMMAND_TIMEOUT = 300.0  # RFC 5321 §4.5.3.2: minutes for EHLO and QUIT replies, before scaling

# Most specific first: the first class an exception is an instance of decides.
_NET_ERRORS: tuple[tuple[type[BaseException], NetError], ...] = (
    (TimeoutError, NetError.TIMEOUT),
    (ConnectionRefusedError, NetError.REFUSED),
    (ConnectionResetError, NetError.REFUSED),  # TCP RST after the handshake: a refusing farm
    (EOFError, NetError.REFUSED),  # `dns_exchange`: the server closed a TCP stream unanswered
    (ConnectionAbortedError, NetError.REFUSED),
)

if TYPE_CHECKING:
    import ssl


def net_error(error: BaseException) -> NetError:
    """How an exchange failed, by the exception's type (never its text).

    Anything else (no route, network down, an address that cannot be used) is unreachable.
    """
    for kind, mapped in _NET_ERRORS:
        if isinstance(error, kind):
            return mapped
    return NetError.UNREACHABLE


def _connect_result(error: NetError) -> ConnectResult:
    return {
        NetError.TIMEOUT: ConnectResult.TIMEOUT,
        NetError.REFUSED: ConnectResult.REFUSED,
        NetError.UNREACHABLE: ConnectResult.UNREACHABLE,
    }[error]


class ScaledClock:
    """Wall time since creation, divided by the time scale: the engine's seconds."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self.time_scale = time_scale
        self._start = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._start) / self.time_scale

    def advance(self, seconds: float) -> None:
        return None  # real time has passed already



class WireTransport:
    """Fulfils engine effects over the lab's sockets; `await run(step)` drives a step."""

    def __init__(
        self,
        address_map: Destinations,
        *,
        dns_port: int = 53,
        smtp_port: int = 25,
        time_scale: float = 1.0,
        clock: Clock | None = None,
        direct: Mapping[str, int] | None = None,
        identify: Callable[[str, str | None], tuple[dns.name.Name | None, str | None]] | None = None,
        rate: float | None = None,
        max_in_flight: int | None = None,
        smtp_timeout: float | None = None,
    ) -> None:
        if not 0 < time_scale <= 1:
            raise ValueError(f"time_scale must be in (0, 1], not {time_scale}")
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be > 0 queries a second, not {rate}")
        self.map = address_map
        self.dns_port = dns_port
        self.smtp_port = smtp_port
        self.time_scale = time_scale
        # Wall time by default; a `VirtualClock` instead moves only by what each effect took
        # (see `run`), so time the event loop spends elsewhere is never the engine's time.
        self.clock: Clock = clock or ScaledClock(time_scale)
        # Lab addresses asked as they are, with their DNS port: the lab's own resolver.
        self.direct = {loopback_only(a): port for a, port in (direct or {}).items()}
        # (real address, NSID) -> (server name, backend name), from the scenario: the wire
        # itself says only the NSID, which names the backend where the scenario is unambiguous.
        self.identify = identify
        # Politeness (`mxsim check`): queries to one address leave at most `rate` a second,
        # evenly spaced, and at most `max_in_flight` exchanges wait at once over all addresses.
        self.spacing = 1.0 / rate if rate else 0.0
        self.max_in_flight = max_in_flight
        self._next_send: dict[str, float] = {}
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        # A cap on every SMTP wait (connect, greeting, each reply, the TLS handshake), whatever
        # the engine asks: a probe's own.
        self.smtp_timeout = smtp_timeout
        # UDP sockets shared per destination, TCP per exchange; replies parsed once per distinct content.
        self.exchanger = DnsExchanger(self.map.unrewrite_message)
        self._destinations: dict[str, str] = {}  # checked once: the rule cannot change within a run
        self.policy_ca: Path | None = None  # the CA file MTA-STS fetches trust; None: the system's
        self._smtp_trust: ssl.SSLContext | None = None  # made from `policy_ca` at the first STARTTLS
        self.https_port = 443  # where MTA-STS policies are fetched (a test lab may serve elsewhere)
        self.dns_sent = 0  # DNS exchanges asked of this transport (politeness reports count them)

    async def _pace(self, where: str) -> None:
        """Wait for this address's next send slot (one every `spacing` seconds)."""
        if self.spacing <= 0:
            return
        now = time.monotonic()
        slot = max(now, self._next_send.get(where, now))
        self._next_send[where] = slot + self.spacing
        if slot > now:
            await asyncio.sleep(slot - now)

    def _in_flight(self) -> asyncio.Semaphore | None:
        if self.max_in_flight is None:
            return None
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:  # a semaphore belongs to one loop
            self._slots = (loop, asyncio.Semaphore(self.max_in_flight))
        return self._slots[1]

    def destination(self, real: str) -> str:
        """The lab address for a real one, checked against the safety rule."""
        if real in self.direct:
            return real
        known = self._destinations.get(real)
        if known is None:
            known = self._destinations[real] = self.map.bindable(self.map.lab(real))  # 127/8, or the lab's netns
        return known

    def _scaled(self, seconds: float) -> float:
        return max(seconds * self.time_scale, 0.0)

    def _elapsed(self, started: float) -> float:
        return (time.monotonic() - started) / self.time_scale

    async def dns(self, exchange: DnsExchange) -> DnsResult:
        self.dns_sent += 1
        if self.spacing > 0:
            # The send slot first: a query waiting for its address's turn holds no in-flight place,
            # so one slow address never starves the others.
            with contextlib.suppress(NoDestinationError, ValueError):
                await self._pace(self.destination(exchange.address))
        slots = self._in_flight()
        if slots is None:
            return await self._dns(exchange)
        # acquire and release, not `async with`: two coroutine layers fewer on every query.
        await slots.acquire()
        try:
            return await self._dns(exchange)
        finally:
            slots.release()

    async def _dns(self, exchange: DnsExchange) -> DnsResult:
        started = time.monotonic()
        try:
            where = self.destination(exchange.address)
        except NoDestinationError:
            # Nothing of the world listens there: to the asker that is silence (as in the model).
            await asyncio.sleep(self._scaled(exchange.timeout))
            return DnsResult(None, exchange.timeout, NetError.TIMEOUT)
        timeout = self._scaled(exchange.timeout)
        port = self.direct.get(where, self.dns_port)
        try:
            if exchange.tcp:
                reply, nsid, took = await self.exchanger.exchange_tcp(exchange.message, where, port, timeout)
            else:
                reply, nsid, took = await self.exchanger.exchange(exchange.message, where, port, timeout)
        except (OSError, EOFError) as error:  # unusable replies are dropped in `dns_exchange`
            kind = net_error(error)
            elapsed = exchange.timeout if kind == NetError.TIMEOUT else self._elapsed(started)
            return DnsResult(None, elapsed, kind)
        server, backend = self.identify(exchange.address, nsid) if self.identify else (None, None)
        return DnsResult(reply, took / self.time_scale, None, server=server, backend=backend, nsid=nsid)

    async def _connect(self, where: str, port: int, timeout: float) -> socket.socket:
        family = socket.AF_INET6 if ":" in where else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (where, port)), timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    async def smtp(self, probe: SmtpProbe) -> SmtpSession:
        command_timeout = SMTP_COMMAND_TIMEOUT
        if self.smtp_timeout is not None:
            probe = replace(
                probe, connect_timeout=min(probe.connect_timeout, self.smtp_timeout),
                greeting_timeout=min(probe.greeting_timeout, self.smtp_timeout),
            )
            command_timeout = min(command_timeout, self.smtp_timeout)
        started = time.monotonic()
        try:
            where = self.destination(probe.address)
        except NoDestinationError:
            return SmtpSession(ConnectResult.UNREACHABLE, 0.0)  # no route to it in the lab
        try:
            sock = await self._connect(where, self.smtp_port, self._scaled(probe.connect_timeout))
        except (OSError, TimeoutError) as error:
            kind = net_error(error)
            elapsed = probe.connect_timeout if kind == NetError.TIMEOUT else self._elapsed(started)
            return SmtpSession(_connect_result(kind), elapsed)
        from mxsim.transport.smtp_client import Waits, converse, lab_trust  # ssl only when probing

        if self.policy_ca is not None and self._smtp_trust is None:
            self._smtp_trust = lab_trust(self.policy_ca)  # the lab's CA issued its SMTP certificates too
        try:
            return await converse(sock, probe, Waits(probe.greeting_timeout, command_timeout, self.time_scale),
                                  lambda: self._elapsed(started), self._smtp_trust)
        finally:
            sock.close()

    async def fulfil(self, effect: Effect) -> DnsResult | SmtpSession | PolicyReply:
        if isinstance(effect, DnsExchange):
            return await self.dns(effect)
        if isinstance(effect, PolicyFetch):
            return await self.policy(effect)
        return await self.smtp(effect)

    async def policy(self, fetch: PolicyFetch) -> PolicyReply:
        """An MTA-STS policy fetch over HTTPS, trusting `policy_ca` (the lab's CA) when set."""
        from mxsim.transport.policy_fetch import fetch_policy, trust  # ssl only when fetching

        try:
            where = self.destination(fetch.address)
        except NoDestinationError:
            return PolicyReply(FetchStatus.REFUSED, 0.0)
        return await fetch_policy(fetch, where, trust(self.policy_ca), self.https_port)

    async def run(self, step: Step[T]) -> T:
        """Drive an engine step to its end, answering each effect over the wire."""
        try:
            effect = next(step)
            while True:
                # DNS first and directly: nearly every effect of a check is a DNS exchange.
                result = await (self.dns(effect) if type(effect) is DnsExchange else self.fulfil(effect))
                self.clock.advance(result.elapsed)  # a wall clock has moved already: a no-op there
                effect = step.send(result)
        except StopIteration as done:
            value: T = done.value
            return value

    async def gather(self, steps: Sequence[Step[T]]) -> list[T]:
        """Drive steps side by side in the running event loop; results in the order given."""
        return list(await asyncio.gather(*(self.run(step) for step in steps)))

    def run_all(self, jobs: Sequence[Callable[[], Awaitable[T]]], finish: Callable[[], None] | None = None) -> list[T]:
        """`run_all`, then `finish` (by default this transport's sockets closed) before the loop ends."""
        return run_all(jobs, finish or self.exchanger.close)


def run_all(jobs: Sequence[Callable[[], Awaitable[T]]], finish: Callable[[], None] | None = None) -> list[T]:
    """Run coroutines side by side in a fresh event loop; results in the order given.

    The event loop lives here, in the transport layer: commands above never touch one.
    `finish` runs inside the loop after the jobs (closing what they opened in it).
    """

    async def main() -> list[T]:
        try:
            return list(await asyncio.gather(*(job() for job in jobs)))
        finally:
            if finish is not None:
                finish()

    return asyncio.run(main())


def run_one(job: Callable[[], Awaitable[T]]) -> T:
    return run_all([job])[0]
