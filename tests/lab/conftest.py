"""Fixtures that serve worlds on loopback, on unprivileged ports, in a background loop.

Each lab runs `serve_world` in an event loop on its own thread, so tests can use plain
blocking clients (dnspython's `dns.query`, `smtplib`) with bounded timeouts.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.query
import pytest

from mxsim.lab.addressmap import AddressMap
from mxsim.lab.errors import LabError
from mxsim.lab.servers import LabServers, serve_world
from mxsim.lab.smtp_session import SmtpSink
from mxsim.world import World

HERE = Path(__file__).parent
WIRE_SCENARIO = HERE / "lab-wire.yaml"
START_TIMEOUT = 15.0
PORT_ATTEMPTS = 12
# Below Linux's ephemeral range (32768-60999), so client sockets never hold these.
PORT_RANGE = (20000, 32000)
_ports = random.Random()


@dataclass
class RunningLab:
    world: World
    map: AddressMap
    servers: LabServers
    dns_port: int
    smtp_port: int

    def lab(self, real: str) -> str:
        return self.map.lab(real)

    def ask(
        self,
        real: str,
        qname: str,
        qtype: str,
        *,
        rd: bool = True,
        nsid: bool = False,
        edns: bool = True,
        payload: int = 1232,
        tcp: bool = False,
        timeout: float = 2.0,
    ) -> dns.message.Message:
        options = [dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")] if nsid else []
        query = dns.message.make_query(
            qname, qtype, use_edns=0 if edns else False, payload=payload, options=options
        )
        if not rd:
            query.flags &= ~dns.flags.RD
        send = dns.query.tcp if tcp else dns.query.udp
        return send(query, self.lab(real), timeout=timeout, port=self.dns_port)


@contextmanager
def running_lab(world: World, *, seed: int = 0, **options: Any) -> Iterator[RunningLab]:
    address_map = AddressMap.build(world)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="lab-loop", daemon=True)
    thread.start()
    manager: AbstractAsyncContextManager[LabServers] | None = None
    try:
        for _attempt in range(PORT_ATTEMPTS):
            dns_port = _ports.randrange(*PORT_RANGE)
            smtp_port = dns_port + 1
            manager = serve_world(world, address_map, dns_port, smtp_port, seed, **options)
            future = asyncio.run_coroutine_threadsafe(manager.__aenter__(), loop)
            try:
                servers = future.result(START_TIMEOUT)
                break
            except LabError as error:
                manager = None
                if "in use" not in str(error):
                    raise
        else:
            pytest.fail("no free port pair for the lab after several attempts")
        yield RunningLab(world, address_map, servers, dns_port, smtp_port)
    finally:
        if manager is not None:
            stop = asyncio.run_coroutine_threadsafe(manager.__aexit__(None, None, None), loop)
            stop.result(START_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT)
        loop.close()


@pytest.fixture
def sink(tmp_path: Path) -> SmtpSink:
    return SmtpSink(tmp_path / "messages.jsonl")
