"""`mxsim trace --via-lab STATE`: the same profiles as `trace`, against the lab's sockets.

The model trace (`commands.trace`) answers the engine from a `World` in memory; this
one hands the same steps to a `WireTransport`, so each DNS question and SMTP probe
crosses real sockets to `mxsim lab`. Two resolver modes:
- the lab runs unbound (`lab up --resolver unbound`): the MTA's stub asks unbound over
  the wire with RD=1, as glibc would; unbound is restarted before each profile so that
  every MTA starts with an empty cache, as in the model;
- otherwise mxsim's own `RecursiveResolver` iterates over the wire from the lab's root.
Backends are the lab's draws (its `--pin`s and `--seed`), not the trace's: the wire
world does not know which backend answered, but NSIDs come back in the replies.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rdatatype

from mxsim.clock import VirtualClock
from mxsim.engine import emulated_ask, profiles_for, recipient_of, resolver_for, send
from mxsim.errors import UsageError
from mxsim.lab.endpoint import LabEndpoint
from mxsim.lab.state import LAB_CA
from mxsim.mta.results import Delivery
from mxsim.mta.stub import Ask
from mxsim.resolver.recursive import Resolved
from mxsim.transport.base import DnsExchange, DnsReply, DnsResult, Step
from mxsim.transport.wire import WireTransport, run_all
from mxsim.world import World, parse_pins

from .trace import TraceConfig, TraceResult


@dataclass(frozen=True, slots=True)
class WireTraceConfig:
    trace: TraceConfig
    lab: LabEndpoint
    time_scale: float = 1.0
    parallel: bool = True  # profiles side by side (own resolver only; unbound is shared)
    # Called before each profile when the lab's resolver is unbound: empties its cache.
    restart_resolver: Callable[[], None] | None = None


def resolver_ask(address: str) -> Ask:
    """The stub's view of a real recursive resolver at `address`: RD=1 queries, as glibc sends."""

    def ask(qname: dns.name.Name, qtype: dns.rdatatype.RdataType, wait: float) -> Step[
            tuple[DnsReply | None, Resolved | None]]:
        query = dns.message.make_query(qname, qtype, use_edns=False)
        result: DnsResult = yield DnsExchange(address, query, False, wait)
        message = result.message
        if message is not None and message.flags & dns.flags.TC:
            result = yield DnsExchange(address, query, True, max(wait - result.elapsed, 0.001))
            message = result.message
        if message is None:
            return None, None
        return DnsReply.from_message(message), None

    return ask


def _check_pins(config: TraceConfig, lab: LabEndpoint) -> dict[dns.name.Name, str]:
    spec = config.spec
    if spec.name != lab.name:
        raise UsageError(f"the lab serves scenario {lab.name}, not {spec.name}")
    served = parse_pins(spec, list(lab.pins))
    if config.pins and parse_pins(spec, list(config.pins)) != served:
        shown = " ".join(lab.pins) or "none"
        raise UsageError(
            f"the lab draws its own backends (its pins: {shown}); bring it up with the pins "
            "you want (`mxsim lab up ... --pin ...`) instead of passing --pin to a wire trace"
        )
    return served


def identifier(world: World) -> Callable[[str, str | None], tuple[dns.name.Name | None, str | None]]:
    """(address, NSID) -> (server name, backend): the backend whose NSID the reply carries."""

    def identify(address: str, nsid: str | None) -> tuple[dns.name.Name | None, str | None]:
        server = world.by_address.get(address)
        if server is None:
            return None, None
        backends = [b.name for b in server.spec.backends if nsid is not None and b.nsid == nsid]
        if not backends and len(server.spec.backends) == 1:
            backends = [server.spec.backends[0].name]  # one backend: it answered, NSID or not
        return server.spec.name, backends[0] if len(backends) == 1 else None

    return identify


def run_wire_trace(config: WireTraceConfig) -> TraceResult:
    trace = config.trace
    spec = trace.spec
    lab = config.lab
    recipient = recipient_of(spec, trace.recipient)
    pins = _check_pins(trace, lab)
    profiles = profiles_for(trace.mtas or spec.mta, trace.overrides)
    world = World(spec, pins)  # only for the root hints: the lab serves the answers
    direct = {lab.resolver[0]: lab.resolver[1]} if lab.resolver is not None else {}
    transports: list[WireTransport] = []

    def close() -> None:
        for transport in transports:
            transport.exchanger.close()

    def job(profile_name: str, index: int) -> Callable[[], Awaitable[Delivery]]:
        profile = profiles[index]
        rng = random.Random(f"{trace.seed}:{profile_name}")
        transport = WireTransport(
            lab.address_map, dns_port=lab.dns_port, smtp_port=lab.smtp_port,
            time_scale=config.time_scale, direct=direct, identify=identifier(world),
            # Engine time is the sum of what the exchanges took (scaled back), as in the model:
            # with five MTAs on one event loop, wall time would charge each with the others'
            # work, times 1/time_scale (a 2 ms stall at 0.02 is 0.1 s), and a stub could give
            # up on an answer that came back in time (seen once in CI: alt1.aspmx... A).
            clock=VirtualClock(),
        )
        transports.append(transport)
        if lab.state_dir is not None and (Path(lab.state_dir) / LAB_CA).is_file():
            transport.policy_ca = Path(lab.state_dir) / LAB_CA  # MTA-STS senders trust the lab's CA
        clock = transport.clock
        if lab.resolver is not None:
            ask = resolver_ask(lab.resolver[0])
        else:
            ask = emulated_ask(resolver_for(world, clock, rng))

        async def go() -> Delivery:
            return await transport.run(send(profile, ask, rng, recipient, clock.now))

        return go

    jobs = [job(profile.name, i) for i, profile in enumerate(profiles)]
    if lab.resolver is None and config.parallel:
        deliveries = run_all(jobs, close)
    else:
        deliveries = []
        for start in jobs:
            if lab.resolver is not None and config.restart_resolver is not None:
                config.restart_resolver()
            deliveries.extend(run_all([start], close))
    shown_pins = tuple(sorted((name.to_text(omit_final_dot=True), backend) for name, backend in pins.items()))
    return TraceResult(spec.name, trace.seed, shown_pins, tuple(deliveries))
