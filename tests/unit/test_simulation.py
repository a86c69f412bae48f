"""The event loop: a process resumes when its effect's time has passed, after every event
already queued for that time or earlier, and before any event queued for later."""

from __future__ import annotations

import random
from collections.abc import Generator

from mxsim.clock import VirtualClock
from mxsim.scenario import load_scenario_text
from mxsim.transport.base import SmtpProbe, SmtpSession
from mxsim.transport.model import MODEL_RTT, ModelTransport
from mxsim.transport.simulation import Simulation
from mxsim.world import World

SCENARIO = """
mxsim: 1
name: two-hosts
recipient: user@example.org
zones:
  example.org: |
    $TTL 300
    @   SOA ns1.example.org. hostmaster.example.org. 1 3600 600 86400 300
    @   NS  ns1.example.org.
    @   MX  10 mx1.example.org.
    @   MX  20 mx2.example.org.
    mx1 A   192.0.2.25
    mx2 A   192.0.2.26
    ns1 A   192.0.2.53
servers:
  ns1.example.org:
    address: 192.0.2.53
    zones: [example.org]
hosts:
  mx1.example.org: {smtp: accept}
  mx2.example.org: {smtp: drop}
"""
CONNECT_TIMEOUT = 5.0


def simulation() -> Simulation:
    world = World(load_scenario_text(SCENARIO, file="two-hosts.yaml"), {})
    return Simulation(ModelTransport(world, VirtualClock(), random.Random(0), memo=True))


def probe(address: str) -> SmtpProbe:
    return SmtpProbe(address, 25, "sender.example", CONNECT_TIMEOUT, 300.0)


def test_a_process_resumes_after_what_is_due_first_and_before_what_is_due_later() -> None:
    sim = simulation()
    seen: list[str] = []

    def process() -> Generator[SmtpProbe, SmtpSession, str]:
        seen.append(f"start {sim.clock.now()}")
        yield probe("192.0.2.26")  # dropped: the connect times out
        seen.append(f"resumed {sim.clock.now()}")
        yield probe("192.0.2.25")  # accepted: three round trips
        seen.append(f"resumed {sim.clock.now()}")
        return "delivered"

    accepted_at = CONNECT_TIMEOUT + 3 * MODEL_RTT
    # Queued before the process starts: the one due at the very time it wakes runs first.
    sim.call_at(CONNECT_TIMEOUT, lambda: seen.append(f"due with it {sim.clock.now()}"))
    sim.call_at(CONNECT_TIMEOUT + MODEL_RTT, lambda: seen.append(f"due between {sim.clock.now()}"))
    sim.call_at(accepted_at + 1.0, lambda: seen.append(f"due after {sim.clock.now()}"))
    sim.call_at(0.0, lambda: sim.start(process(), lambda value: seen.append(f"{value} {sim.clock.now()}")))
    sim.run()

    assert seen == [
        "start 0.0",
        f"due with it {CONNECT_TIMEOUT}",
        f"resumed {CONNECT_TIMEOUT}",
        f"due between {CONNECT_TIMEOUT + MODEL_RTT}",
        f"resumed {accepted_at}",
        f"delivered {accepted_at}",
        f"due after {accepted_at + 1.0}",
    ]
    assert sim.events == 6  # four queued calls and two resumptions, each counted once


def test_processes_interleave_in_virtual_time() -> None:
    sim = simulation()
    seen: list[tuple[str, float]] = []

    def process(name: str, address: str) -> Generator[SmtpProbe, SmtpSession, None]:
        for _ in range(2):
            session = yield probe(address)
            seen.append((name, session.elapsed))

    sim.call_at(0.0, lambda: sim.start(process("slow", "192.0.2.26"), lambda _value: None))
    sim.call_at(0.0, lambda: sim.start(process("fast", "192.0.2.25"), lambda _value: None))
    sim.run()

    assert [name for name, _elapsed in seen] == ["fast", "fast", "slow", "slow"]
    assert sim.clock.now() == 2 * CONNECT_TIMEOUT
