"""`transport.flight`: many jobs in one event loop, results in input order, bounded ahead,
finished results passed on when cancelled; `FirstOnly` runs shared work once."""

from __future__ import annotations

import asyncio

import pytest

from mxsim.transport.dns_exchange import nsid_split
from mxsim.transport.flight import FirstOnly, in_order


def test_results_come_in_input_order_with_a_bounded_number_in_flight() -> None:
    delays = [0.05, 0.0, 0.03, 0.0, 0.01, 0.0, 0.02, 0.0]
    running: list[int] = []
    most = 0
    emitted: list[int] = []

    async def start(index: int) -> int:
        nonlocal most
        running.append(index)
        most = max(most, len(running))
        # Never more than `window` places past the first unfinished item.
        assert index < (emitted[-1] + 1 if emitted else 0) + 4
        await asyncio.sleep(delays[index])
        running.remove(index)
        return index

    asyncio.run(in_order(list(range(len(delays))), start, emitted.append, parallel=3, window=4))
    assert emitted == list(range(len(delays)))
    assert most == 3


def test_a_cancelled_run_passes_on_every_finished_result_once() -> None:
    emitted: list[int] = []

    async def start(index: int) -> int:
        await asyncio.sleep(0 if index != 0 else 10)  # the first never finishes before the cancel
        return index

    async def main() -> None:
        task = asyncio.ensure_future(in_order(list(range(6)), start, emitted.append, parallel=6, window=6))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert emitted == [1, 2, 3, 4, 5]  # held back behind the first, passed on when cancelled


def test_an_error_stops_the_run_and_is_raised() -> None:
    async def start(index: int) -> int:
        if index == 2:
            raise ValueError("bad domain")
        await asyncio.sleep(0.01)
        return index

    with pytest.raises(ValueError, match="bad domain"):
        asyncio.run(in_order(list(range(5)), start, lambda _: None, parallel=2, window=2))


def test_first_only_lets_one_job_do_the_shared_work() -> None:
    learned: set[str] = set()
    walked: list[int] = []
    gate = FirstOnly()

    async def check(index: int) -> None:
        async def walk() -> None:
            if "org." not in learned:
                walked.append(index)
                await asyncio.sleep(0.02)
                learned.add("org.")
        await gate.run("org.", lambda: "org." in learned, walk)

    async def main() -> None:
        await asyncio.gather(*(check(i) for i in range(5)))

    asyncio.run(main())
    assert walked == [0]


def _reply_with_nsid(nsid: bytes) -> bytes:
    import dns.edns
    import dns.message

    query = dns.message.make_query("zone.example.", "MX", use_edns=0)
    reply = dns.message.make_response(query)
    reply.use_edns(0, options=[dns.edns.NSIDOption(nsid)])
    return reply.to_wire()


def test_replies_differing_only_in_nsid_share_a_key() -> None:
    first, second = _reply_with_nsid(b"farm01.example"), _reply_with_nsid(b"b2")
    one, two = nsid_split(first), nsid_split(second)
    assert one is not None and two is not None
    assert one == (two[0], "farm01.example") and two[1] == "b2"
    # An NSID holding the OPT record's own bytes is still read from where the record starts.
    tricky = nsid_split(_reply_with_nsid(b"x\x00\x00\x29y"))
    assert tricky is not None and tricky[1] == "x\x00\x00)y" and tricky[0] == one[0]
    assert nsid_split(first[:-1]) is None  # a reply cut short: the whole of it is the key
