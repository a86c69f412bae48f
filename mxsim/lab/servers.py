"""All of a world's lab servers in the running event loop: `serve_world`.

The detached `lab up` process runs exactly this; tests use it directly, without
subprocesses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mxsim.clock import Clock
from mxsim.lab.addressmap import AddressMap
from mxsim.lab.connections import ConnectionLimit, connections_allowed
from mxsim.lab.dns_server import DnsListeners, DnsService
from mxsim.lab.smtp_server import TARPIT_HOLD, SmtpListeners
from mxsim.lab.smtp_session import IDLE_TIMEOUT, SmtpSink
from mxsim.lab.sts_https import StsLab
from mxsim.world import World


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
        command_timeout: float = IDLE_TIMEOUT,
        tarpit_hold: float = TARPIT_HOLD,
        firewall_drop: bool = False,
        time_scale: float = 1.0,
        max_connections: int | None = None,
        https_port: int = 443,
        ca_folder: Path | None = None,
    ) -> None:
        self.world = world
        self.map = address_map
        self.dns_port = dns_port
        self.smtp_port = smtp_port
        self.sink = sink or SmtpSink()
        self.dns_service = DnsService(world, address_map, seed=seed, clock=clock, time_scale=time_scale)
        self.max_connections = max_connections
        self.limit = ConnectionLimit()  # DNS over TCP and SMTP share the process's descriptors
        self.dns = DnsListeners(self.dns_service, dns_port, limit=self.limit)
        self.smtp = SmtpListeners(
            world, address_map, smtp_port, self.sink,
            command_timeout=command_timeout, tarpit_hold=tarpit_hold,
            firewall_drop=firewall_drop, time_scale=time_scale, limit=self.limit,
        )
        # MTA-STS: the policy endpoints, and SMTP certificates a verifying sender accepts, from one lab CA.
        self.sts: StsLab | None = StsLab(world, address_map, https_port, ca_folder) if world.spec.mta_sts else None
        if self.sts is not None:
            self.smtp.tls_for = self.sts.smtp_context

    async def start(self) -> None:
        try:
            await self.dns.start()
            if self.sts is not None:
                await self.sts.start()
            await self.smtp.start()
            # Counted once every listener holds its descriptor.
            allowed = connections_allowed()
            self.limit.maximum = min(allowed, self.max_connections or allowed)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await self.dns.stop()
        await self.smtp.stop()
        if self.sts is not None:
            await self.sts.stop()

    def status(self) -> dict[str, object]:
        return {
            "dns": [self.dns_service.counters[a].to_json() for a in self.dns_service.addresses()],
            "smtp": [counters.to_json() for counters in self.smtp.counters.values()],
            "messages": self.sink.count,
            "connections": self.limit.to_json(),
            "dns_cache": self.dns_service.cache_stats(),
            **({"https": self.sts.endpoints.status()} if self.sts is not None else {}),
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
    command_timeout: float = IDLE_TIMEOUT,
    tarpit_hold: float = TARPIT_HOLD,
    firewall_drop: bool = False,
    time_scale: float = 1.0,
    max_connections: int | None = None,
    https_port: int = 443,
    ca_folder: Path | None = None,
) -> AsyncIterator[LabServers]:
    """Serve `world` on its lab addresses in this event loop until the block ends.

    `time_scale` shrinks the scenario's delays (DNS `delay`, SMTP `slow`) as a wire
    trace with the same scale shrinks its timeouts; `firewall_drop`: a namespace's
    iptables rules drop SYNs to `drop` hosts, so nothing listens there;
    `max_connections`: TCP connections open at once (DNS and SMTP together) before the
    next is refused; at most what the descriptor limit allows with some to spare;
    `https_port`, `ca_folder`: where MTA-STS policies are served and the lab CA is written
    (a private temporary folder when None; see `lab.sts_https`).
    """
    servers = LabServers(
        world, address_map, dns_port=dns_port, smtp_port=smtp_port, seed=seed, clock=clock,
        sink=sink, command_timeout=command_timeout, tarpit_hold=tarpit_hold,
        firewall_drop=firewall_drop, time_scale=time_scale, max_connections=max_connections,
        https_port=https_port, ca_folder=ca_folder,
    )
    await servers.start()
    try:
        yield servers
    finally:
        await servers.stop()
