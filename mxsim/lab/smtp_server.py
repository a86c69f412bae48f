"""SMTP listeners on the lab addresses of a world's mail hosts, one per address.

Each behaves as its `hosts` entry says (docs/scenario-format.md#hosts): accept, refuse, drop, tarpit,
reject, tempfail, slow. Replies mirror the model transport (`transport.model`): the
same default reject/tempfail replies and the same banner when none is written.

Drop without a firewall: a listening socket with a backlog of 0 that never accepts,
whose one queue slot the lab fills itself. Linux then drops every further SYN (a full
accept queue), so a client sees its connect time out, as with a firewall DROP rule.
The lab checks that this holds at start; where it does not (another kernel), the host
falls back to a tarpit and its status says so.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from mxsim.lab.addressmap import AddressMap, MappedAddress
from mxsim.lab.binding import bind_failure
from mxsim.lab.connections import ConnectionLimit, Connections, TcpListener
from mxsim.lab.smtp_session import (
    IDLE_TIMEOUT,
    HostIdentity,
    SmtpDialogue,
    SmtpSink,
    greeting_line,
    wait_for_quit,
)
from mxsim.lab.tls import self_signed_context
from mxsim.scenario.spec import HostSpec, SmtpKind, TlsMode
from mxsim.transport.base import Reply
from mxsim.transport.model import DEFAULT_REJECT, DEFAULT_TEMPFAIL, parse_reply
from mxsim.world import World

TARPIT_HOLD = 600.0  # seconds a tarpit keeps a silent connection before letting go
STREAM_LIMIT = 1 << 20  # longest line read; RFC 5321 allows 1000, real senders exceed it
SYN_PROBE = 0.25  # a loopback handshake takes well under a millisecond; SYN retry is 1 s
MAX_FILLERS = 8
BUSY = b"421 4.3.2 All server ports are busy\r\n"  # postscreen's words past its connection limit

DROP_BY_FULL_QUEUE = "drop: SYNs unanswered (a never-accepting listener with a full queue)"
DROP_BY_FIREWALL = "drop: SYNs dropped by an iptables rule in the lab's network namespace"
DROP_AS_TARPIT = (
    "drop emulated as tarpit: this kernel answered SYNs on a full accept queue, and a "
    "real drop needs a firewall rule inside a network namespace"
)


@dataclass(slots=True)
class SmtpCounters:
    lab: str
    real: str
    names: tuple[str, ...]
    kind: SmtpKind  # what the scenario says
    mode: str = ""  # what the lab does for it
    connections: int = 0
    messages: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "lab": self.lab, "real": self.real, "names": list(self.names),
            "kind": self.kind.value, "mode": self.mode, "connections": self.connections,
            "messages": self.messages,
        }


@dataclass(slots=True)
class _DropTrap:
    listener: socket.socket
    fillers: list[socket.socket] = field(default_factory=list)

    def close(self) -> None:
        for sock in [*self.fillers, self.listener]:
            sock.close()


async def _hold_syns(lab: str, port: int) -> _DropTrap | None:
    """A listener that leaves SYNs unanswered, or None where the kernel will not.

    `lab` has passed `AddressMap.bindable` already.
    """
    family = socket.AF_INET6 if ":" in lab else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((lab, port))
        listener.listen(0)
    except OSError:
        listener.close()
        raise
    trap = _DropTrap(listener)
    loop = asyncio.get_running_loop()
    for _ in range(MAX_FILLERS):
        filler = socket.socket(family, socket.SOCK_STREAM)
        filler.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(filler, (lab, port)), SYN_PROBE)
        except (TimeoutError, OSError):
            filler.close()
            return trap  # the queue is full and SYNs go unanswered: a drop
        trap.fillers.append(filler)
    trap.close()
    return None


class SmtpListeners:
    """Every SMTP-relevant lab address of a world, listening (or not) as its host says."""

    def __init__(
        self,
        world: World,
        address_map: AddressMap,
        port: int,
        sink: SmtpSink,
        *,
        command_timeout: float = IDLE_TIMEOUT,
        tarpit_hold: float = TARPIT_HOLD,
        firewall_drop: bool = False,
        time_scale: float = 1.0,
        limit: ConnectionLimit | None = None,
    ) -> None:
        self.world = world
        self.firewall_drop = firewall_drop  # a namespace's iptables rules drop SYNs for us
        self.time_scale = time_scale  # `slow` greetings shrink with the wire transport's timeouts
        self.map = address_map
        self.port = port
        self.sink = sink
        self.command_timeout = command_timeout
        self.tarpit_hold = tarpit_hold
        self.counters: dict[str, SmtpCounters] = {}
        self.servers: list[TcpListener] = []
        self.traps: list[_DropTrap] = []
        self.connections = Connections(limit)
        self.tls: ssl.SSLContext | None = None  # made at start if a host hands out TLS
        # Set when the lab has a CA (MTA-STS): each address's own certificate, naming its hosts.
        self.tls_for: Callable[[str], ssl.SSLContext] | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}

    async def start(self) -> None:
        if self.tls_for is None and any(h.starttls and h.tls == TlsMode.HANDSHAKE for h in self.world.spec.hosts):
            self.tls = self_signed_context()
        for entry in self.map.smtp_addresses():
            host = self.world.smtp(entry.real)
            names = self.world.host_names(entry.real)
            if self.tls_for is not None and host.starttls and host.tls == TlsMode.HANDSHAKE:
                self._contexts[entry.real] = self.tls_for(entry.real)  # issued now, not in a session
            counters = SmtpCounters(entry.lab, entry.real, names, host.smtp)
            self.counters[entry.lab] = counters
            if host.smtp == SmtpKind.REFUSE:
                counters.mode = "refuse: nothing listens"
                continue
            try:
                await self._listen(entry, host, counters)
            except OSError as error:
                raise bind_failure(error, "SMTP", entry.lab, self.port) from error

    async def _listen(self, entry: MappedAddress, host: HostSpec, counters: SmtpCounters) -> None:
        if host.smtp == SmtpKind.DROP and self.firewall_drop:
            counters.mode = DROP_BY_FIREWALL  # nothing listens; the rule never lets a SYN in
            return
        if host.smtp == SmtpKind.DROP:
            trap = await _hold_syns(self.map.bindable(entry.lab), self.port)
            if trap is not None:
                self.traps.append(trap)
                counters.mode = DROP_BY_FULL_QUEUE
                return
            counters.mode = DROP_AS_TARPIT
        else:
            counters.mode = host.smtp.value
        identity = HostIdentity(entry.lab, entry.real, counters.names)
        handler = functools.partial(self._session, entry, identity, host)
        self.servers.append(self.connections.listen(
            self.map.bindable(entry.lab), self.port, handler, refusal=BUSY, stream_limit=STREAM_LIMIT,
        ))

    async def _session(
        self,
        entry: MappedAddress,
        identity: HostIdentity,
        host: HostSpec,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        counters = self.counters[entry.lab]
        counters.connections += 1
        kind = host.smtp
        if kind in (SmtpKind.TARPIT, SmtpKind.DROP):
            hold = host.delay * self.time_scale if kind == SmtpKind.TARPIT and host.delay else None
            await self._tarpit(reader, hold)
            return
        if kind in (SmtpKind.REJECT, SmtpKind.TEMPFAIL):
            fallback = DEFAULT_REJECT if kind == SmtpKind.REJECT else DEFAULT_TEMPFAIL
            reply = Reply(host.code or fallback.code, host.text or fallback.text)
            await self._refuse_service(reply, reader, writer)
            return
        if kind == SmtpKind.SLOW:
            await asyncio.sleep(host.delay * self.time_scale)
        greeting = parse_reply(host.banner or f"220 {identity.banner_host} ESMTP", Reply(220, "ESMTP"))
        if greeting.code != 220:
            await self._refuse_service(greeting, reader, writer)
            return
        writer.write(greeting_line(greeting))
        await writer.drain()
        before = self.sink.count
        dialogue = SmtpDialogue(
            reader, writer, identity, starttls=host.starttls, sink=self.sink,
            tls=self._tls(entry.real) if host.tls == TlsMode.HANDSHAKE else None,
            command_timeout=self.command_timeout,
        )
        try:
            await dialogue.run()
        finally:
            counters.messages += self.sink.count - before

    def _tls(self, real: str) -> ssl.SSLContext | None:
        if self.tls_for is None:
            return self.tls
        if real not in self._contexts:
            self._contexts[real] = self.tls_for(real)
        return self._contexts[real]

    async def _refuse_service(
        self, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(greeting_line(reply))
        await writer.drain()
        if reply.code == 421:
            return  # 421 closes the channel at once (RFC 5321 §3.8)
        await wait_for_quit(reader, writer, self.command_timeout)

    async def _tarpit(self, reader: asyncio.StreamReader, hold: float | None = None) -> None:
        """Connected, never greeted: read and discard until the client gives up, or until
        `hold` seconds have passed (a tarpit with a `delay`), then close without a word."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.tarpit_hold if hold is None else hold)
        while (remaining := deadline - loop.time()) > 0:
            try:
                chunk = await asyncio.wait_for(reader.read(4096), remaining)
            except TimeoutError:
                return
            if not chunk:
                return

    def modes(self) -> dict[str, str]:
        return {lab: counters.mode for lab, counters in self.counters.items()}

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        await self.connections.close()
        for server in self.servers:
            await server.wait_closed()
        for trap in self.traps:
            trap.close()
        self.servers.clear()
        self.traps.clear()
