"""All of a world's lab servers in the running event loop: `serve_world`.

The detached `lab up` process runs exactly this; tests use it directly, without
subprocesses.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mxsim.clock import Clock
from mxsim.lab.addressmap import AddressMap
from mxsim.lab.dns_server import DnsListeners, DnsService
from mxsim.lab.errors import LabError
from mxsim.lab.smtp_server import TARPIT_HOLD, SmtpListeners
from mxsim.lab.smtp_session import COMMAND_TIMEOUT, SmtpSink
from mxsim.world import World

PRIVILEGED_BELOW = 1024


def _unprivileged_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return PRIVILEGED_BELOW


def bind_error(error: OSError, what: str, port: int) -> LabError:
    """One clear sentence for the ways a bind fails."""
    if error.errno == errno.EADDRINUSE:
        return LabError(f"{what} port {port} is already in use (another lab, or a server there?)")
    if error.errno == errno.EACCES:
        return LabError(
            f"{what} port {port}: permission denied; ports below {_unprivileged_start()} need "
            "root or CAP_NET_BIND_SERVICE (or choose ports above 1023)"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return LabError(f"{what}: address not available (is the loopback interface up?)")
    return LabError(f"{what} port {port}: {error.strerror or error}")


class LabServers:
    """DNS and SMTP listeners of one world, with their counters."""

    def __init__(
        self,
        world: World,
        address_map: AddressMap,
        *,
        dns_port: int,
        smtp_port: int,
        seed: int,
        clock: Clock | None = None,
        sink: SmtpSink | None = None,
        command_timeout: float = COMMAND_TIMEOUT,
        tarpit_hold: float = TARPIT_HOLD,
    ) -> None:
        self.world = world
        self.map = address_map
        self.dns_port = dns_port
        self.smtp_port = smtp_port
        self.sink = sink or SmtpSink()
        self.dns_service = DnsService(world, address_map, seed=seed, clock=clock)
        self.dns = DnsListeners(self.dns_service, dns_port)
        self.smtp = SmtpListeners(
            world, address_map, smtp_port, self.sink,
            command_timeout=command_timeout, tarpit_hold=tarpit_hold,
        )

    async def start(self) -> None:
        try:
            try:
                await self.dns.start()
            except OSError as error:
                raise bind_error(error, "DNS (UDP/TCP) on the lab's name-server addresses",
                                 self.dns_port) from error
            try:
                await self.smtp.start()
            except OSError as error:
                raise bind_error(error, "SMTP on the lab's mail-host addresses",
                                 self.smtp_port) from error
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await self.dns.stop()
        await self.smtp.stop()

    def status(self) -> dict[str, object]:
        return {
            "dns": [self.dns_service.counters[a].to_json() for a in self.dns_service.addresses()],
            "smtp": [counters.to_json() for counters in self.smtp.counters.values()],
            "messages": len(self.sink.records),
        }


@asynccontextmanager
async def serve_world(
    world: World,
    address_map: AddressMap,
    dns_port: int = 53,
    smtp_port: int = 25,
    seed: int = 0,
    *,
    clock: Clock | None = None,
    sink: SmtpSink | None = None,
    command_timeout: float = COMMAND_TIMEOUT,
    tarpit_hold: float = TARPIT_HOLD,
) -> AsyncIterator[LabServers]:
    """Serve `world` on its lab addresses in this event loop until the block ends."""
    servers = LabServers(
        world, address_map, dns_port=dns_port, smtp_port=smtp_port, seed=seed, clock=clock,
        sink=sink, command_timeout=command_timeout, tarpit_hold=tarpit_hold,
    )
    await servers.start()
    try:
        yield servers
    finally:
        await servers.stop()
