"""Floods at a lab started with `mxsim lab up`: it keeps answering, stays alive, bounded.

The lab runs with a user's usual limit of 1,024 open files. Garbage goes to its DNS
addresses (UDP and TCP) and its mail hosts from many 127.x source addresses; then a real
DNS query over UDP and over TCP gets a reply, a mail host greets, the process lives, its
memory has a plateau under more of the same garbage, and its log stays small.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reliability.choice import DrawChooser, RandomChooser
from tests.reliability.conftest import CI
from tests.reliability.flood import (
    LOG_LIMIT,
    PLATEAU_DATAGRAMS,
    PLATEAU_KIB,
    Lab,
    flood_datagrams,
    flood_streams,
    hold_idle,
    start_lab,
)
from tests.reliability.garbage import datagram, smtp_stream, tcp_stream

pytestmark = pytest.mark.lab

WARM_UP = 20_000  # datagrams before the memory is measured
IDLE = 1100  # idle connections: more than the lab's 1,024 open files


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    running = start_lab("wa-students-2017", tmp_path_factory.mktemp("flood") / "lab", random.Random())
    try:
        yield running
    finally:
        running.stop()


def _healthy(lab: Lab) -> None:
    assert lab.alive(), "the lab's process is gone"
    assert lab.answers() is None, lab.answers()
    assert lab.smtp_greets() is None, lab.smtp_greets()
    assert lab.log_bytes() < LOG_LIMIT, f"serve.log grew to {lab.log_bytes()} bytes: {lab.log_lines()}"


@settings(CI, max_examples=25)
@given(st.data())
def test_the_lab_answers_after_any_small_batch_of_garbage(lab: Lab, data: st.DataObject) -> None:
    chooser = DrawChooser(data)
    deadline = time.monotonic() + 10
    flood_datagrams(lab, chooser, 20, deadline, sources=4)
    flood_streams(lab, chooser, 4, deadline, hold=0)
    _healthy(lab)


def test_the_lab_answers_after_a_flood_of_datagrams_and_its_memory_levels_off(lab: Lab) -> None:
    # At one address, so that any per-address cache is full after the warm-up (the lab keeps
    # at most a few thousand query bodies an address): what grows after it is a leak.
    one = dataclasses.replace(lab, dns_addresses=lab.dns_addresses[:1])
    chooser = RandomChooser(random.Random(1))
    flood_datagrams(one, chooser, WARM_UP, time.monotonic() + 60)
    time.sleep(0.5)
    before = lab.rss_kib()
    flood_datagrams(one, chooser, PLATEAU_DATAGRAMS, time.monotonic() + 60)
    time.sleep(0.5)
    grown = lab.rss_kib() - before
    _healthy(lab)
    assert grown < PLATEAU_KIB, \
        f"the lab's memory grew {grown} KiB over {PLATEAU_DATAGRAMS} more datagrams (from {before} KiB)"


def test_the_lab_answers_after_a_flood_of_garbage_streams(lab: Lab) -> None:
    flood_streams(lab, RandomChooser(random.Random(2)), 400, time.monotonic() + 60)
    _healthy(lab)


def test_the_lab_keeps_answering_while_more_connections_are_idle_than_it_has_files(lab: Lab) -> None:
    held, _tally = hold_idle(lab, IDLE, time.monotonic() + 60)
    try:
        time.sleep(2)  # the lab accepts what it can
        assert lab.alive(), "the lab's process is gone"
        query = lab.answers()
        # Over TCP the excess may be refused; over UDP the lab must answer.
        assert query is None or "udp" not in query, query
        assert lab.log_bytes() < LOG_LIMIT, \
            f"serve.log grew to {lab.log_bytes()} bytes while connections were idle: {lab.log_lines()}"
    finally:
        for conn in held:
            conn.close()
    time.sleep(1)
    _healthy(lab)


def test_the_garbage_generators_are_deterministic() -> None:
    # The campaign's figures and a replay depend on it.
    for make in (datagram, tcp_stream, smtp_stream):
        first = [make(RandomChooser(random.Random(7))) for _ in range(3)]
        again = [make(RandomChooser(random.Random(7))) for _ in range(3)]
        assert first == again
