"""Per-attempt random streams: an attempt draws the same values however other attempts
interleave with it, and a draw through the switched generator is the stream's own draw."""

from __future__ import annotations

import random
from collections.abc import Generator

import pytest

from mxsim.clock import VirtualClock
from mxsim.mta.draws import below, shuffle
from mxsim.scenario import load_scenario_text
from mxsim.transport.base import SmtpProbe, SmtpSession
from mxsim.transport.model import ModelTransport
from mxsim.transport.simulation import Simulation
from mxsim.transport.streams import SwitchedRandom
from mxsim.transport.xoshiro import GOLDEN, MASK64, Xoshiro128, attempt_stream, scramble, stream_base
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


def test_the_generator_is_xoshiro128_starred_started_by_splitmix64() -> None:
    """Published outputs: xoshiro128** from the words 1, 2, 3, 4 (the authors' reference C,
    xoshiro128starstar.c), and SplitMix64 seeded with 1234567 (splitmix64.c)."""
    generator = Xoshiro128(0, 0)
    generator.s0, generator.s1, generator.s2, generator.s3, generator.started = 1, 2, 3, 4, True
    assert [generator.next32() for _ in range(6)] == [11520, 0, 5927040, 70819200, 2031721883, 1637235492]
    assert scramble((1234567 + GOLDEN) & MASK64) == 6457827717110365317
    assert scramble((1234567 + 2 * GOLDEN) & MASK64) == 3203168211198807973


def _twin(generator: Xoshiro128) -> Xoshiro128:
    if not generator.started:
        generator.start()
    twin = Xoshiro128(0, 0)
    twin.s0, twin.s1, twin.s2, twin.s3 = generator.s0, generator.s1, generator.s2, generator.s3
    twin.started = True
    return twin


def test_floats_and_bits_are_made_from_32_bit_outputs_as_cpython_makes_them() -> None:
    generator = Xoshiro128(stream_base("run"), 77)
    for k in (0, 1, 7, 32, 33, 64, 65, 100):
        twin = _twin(generator)
        words = [twin.next32() for _ in range((k + 31) // 32)]
        expected = 0
        for i, word in enumerate(words[:-1]):
            expected |= word << (32 * i)
        if words:
            expected |= (words[-1] >> (32 * len(words) - k)) << (32 * (len(words) - 1))
        assert generator.getrandbits(k) == expected, k
    twin = _twin(generator)
    assert generator.random() == ((twin.next32() >> 5) * 2**26 + (twin.next32() >> 6)) / 2**53
    with pytest.raises(ValueError):
        generator.getrandbits(-1)


def test_a_stream_draws_evenly() -> None:
    """Chi-squared over ten cells, 20,000 draws: below 27.9, the 0.1 % point for nine degrees
    of freedom, for every one of several streams; and no stream is another's shifted."""
    base = stream_base("1:wa-students-2017:postfix")
    for message in range(5):
        stream = attempt_stream(base, message, 0)
        counts = [0] * 10
        for _ in range(20_000):
            counts[below(stream, 10)] += 1
        assert sum((c - 2_000) ** 2 / 2_000 for c in counts) < 27.9, counts
    streams = [attempt_stream(base, message, 0) for message in range(1000)]
    firsts = {stream.getrandbits(32) for stream in streams}
    seconds = {stream.getrandbits(32) for stream in streams}
    assert len(firsts) == len(seconds) == 1000 and not firsts & seconds


def test_a_stream_starts_at_its_first_draw() -> None:
    base = stream_base("run")
    stream = attempt_stream(base, 1, 0)
    assert not stream.started and (stream.s0, stream.s1, stream.s2, stream.s3) == (0, 0, 0, 0)
    first = stream.getrandbits(32)
    assert stream.started and first == Xoshiro128(base, 1 << 24).getrandbits(32)
    # Every method of random.Random draws through the two a stream has.
    assert draws(SwitchedRandom(attempt_stream(base, 1, 0))) == draws(SwitchedRandom(attempt_stream(base, 1, 0)))
    assert draws(SwitchedRandom(attempt_stream(base, 1, 0))) != draws(SwitchedRandom(attempt_stream(base, 1, 1)))


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


def test_shuffle_draws_what_random_shuffle_draws() -> None:
    """Postfix's shuffle of addresses makes random.shuffle's draws, from any stream."""
    for n in range(0, 12):
        ours, theirs = random.Random(n), random.Random(n)
        mine, reference = list(range(n)), list(range(n))
        shuffle(ours, mine)
        theirs.shuffle(reference)
        assert mine == reference and ours.getstate() == theirs.getstate()
