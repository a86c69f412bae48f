"""Per-attempt random streams: an attempt draws the same values however other attempts
interleave with it, and a draw through the switched generator is the stream's own draw."""

from __future__ import annotations

import random
from collections.abc import Generator

from mxsim.clock import VirtualClock
from mxsim.mta.draws import below
from mxsim.scenario import load_scenario_text
from mxsim.transport.base import SmtpProbe, SmtpSession
from mxsim.transport.model import ModelTransport
from mxsim.transport.simulation import Simulation
from mxsim.transport.streams import LazyRandom, SwitchedRandom, attempt_stream, stream_base
from mxsim.world import World
from tests.unit.test_simulation import SCENARIO, probe


def draws(rng: random.Random) -> list[object]:
    order = list(range(8))
    rng.shuffle(order)
    return [order, rng.choices("abc", weights=[1, 2, 3]), rng.randrange(500), rng.choice("xyz"),
            rng.getrandbits(40), rng.random(), rng.expovariate(2.0)]


def test_a_draw_through_the_switch_is_the_current_streams_own() -> None:
    switched = SwitchedRandom(random.Random(7))
    assert draws(switched) == draws(random.Random(7))
    switched.current = random.Random(8)
    assert draws(switched) == draws(random.Random(8))


def test_a_stream_seeded_at_its_first_draw_draws_what_the_seeded_generator_draws() -> None:
    for seed in (1, 2**150 + 7):
        assert draws(LazyRandom(seed)) == draws(random.Random(seed))
        assert [LazyRandom(seed).gauss(0, 1), LazyRandom(seed).random()] == [
            random.Random(seed).gauss(0, 1), random.Random(seed).random()]
        lazy = LazyRandom(seed)
        lazy.gauss(0, 1)  # leaves a spare value
        state = lazy.getstate()
        first = [*draws(lazy), lazy.gauss(0, 1)]
        lazy.setstate(state)
        assert [*draws(lazy), lazy.gauss(0, 1)] == first
    switched = SwitchedRandom(LazyRandom(9))
    assert draws(switched) == draws(random.Random(9))


def test_attempts_of_one_run_have_distinct_streams_and_runs_distinct_bases() -> None:
    base = stream_base("1:wa-students-2017:postfix")
    assert base != stream_base("1:wa-students-2017:exim")
    firsts = {attempt_stream(base, message, attempt).getrandbits(64) for message in range(50) for attempt in range(4)}
    assert len(firsts) == 200
    assert attempt_stream(base, 3, 1).random() == attempt_stream(base, 3, 1).random()


def _run(starts: list[tuple[str, float]], order: list[str] | None = None) -> dict[str, list[int]]:
    """Processes that wait for SMTP sessions and draw through the shared switch after each."""
    switched = SwitchedRandom(random.Random(0))
    world = World(load_scenario_text(SCENARIO, file="two-hosts.yaml"), {})
    sim = Simulation(ModelTransport(world, VirtualClock(), switched, memo=True), switched)
    seen: dict[str, list[int]] = {}

    def process(name: str) -> Generator[SmtpProbe, SmtpSession, str]:
        for address in ("192.0.2.26", "192.0.2.25", "192.0.2.26"):
            yield probe(address)
            seen.setdefault(name, []).append(switched.randrange(1000))
            if order is not None:
                order.append(name)
        return name

    for name, at in starts:
        sim.call_at(at, lambda name=name: sim.start(process(name), lambda _v: None,
                                                    stream=attempt_stream(5, ord(name), 0)))
    sim.run()
    return seen


def test_a_process_draws_the_same_alone_or_interleaved_with_others() -> None:
    order: list[str] = []
    together = _run([("a", 0.0), ("b", 0.01), ("c", 0.02)], order)
    assert order[:3] == ["a", "b", "c"]  # each waits 5 s on the first host: their draws interleave
    for name, at in (("a", 0.0), ("b", 0.01), ("c", 0.02)):
        assert _run([(name, at)])[name] == together[name]



def test_below_draws_what_randrange_draws() -> None:
    """Exim's random keys are drawn without `randrange`'s argument checks; the numbers,
    and what is left of the stream after them, are randrange's."""
    for n in (1, 2, 3, 500, 1000, 2**31 + 7):
        ours, theirs = random.Random(n), random.Random(n)
        assert [below(ours, n) for _ in range(200)] == [theirs.randrange(n) for _ in range(200)]
        assert ours.getstate() == theirs.getstate()
