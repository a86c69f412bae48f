"""Many engine steps at once on one virtual clock: a discrete-event loop (SimPy's shape).

Each step (a delivery attempt) is a process. When it yields an effect, the world answers
as of the current virtual time and the process resumes when the effect's elapsed time
has passed; meanwhile other processes run. Events due together run in the order they
were scheduled (heap key: time, then a counter), so a seed gives one history. A process
may bring its own random stream: while it runs, `streams` draws from it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from mxsim.clock import VirtualClock
from mxsim.transport.base import Step
from mxsim.transport.model import ModelTransport
from mxsim.transport.streams import RandomSource, SwitchedRandom

Done = Callable[..., None]


class Simulation:
    def __init__(self, transport: ModelTransport, streams: SwitchedRandom | None = None) -> None:
        self.transport = transport
        self.streams = streams
        self.clock: VirtualClock = transport.clock
        # Plain tuples (time, order, action, its arguments): no closure per event.
        self._queue: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._counter = itertools.count()
        self.events = 0

    def call_at(self, at: float, action: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._queue, (at, next(self._counter), action, args))

    def start(self, step: Step[Any], done: Done, *args: Any, stream: RandomSource | None = None) -> None:
        """Run a step from now on; `done(*args, value)` when it ends. With `stream`, what
        the step and the transport draw while it runs comes from that stream."""
        self._advance(step, None, done, args, stream)

    def _advance(self, step: Step[Any], value: Any, done: Done, args: tuple[Any, ...],
                 stream: RandomSource | None) -> None:
        queue, clock, answer = self._queue, self.clock, self.transport.answer
        if stream is not None and self.streams is not None:
            self.streams.current = stream
        while True:
            try:
                effect = step.send(value)
            except StopIteration as finished:
                done(*args, finished.value)
                return
            value = answer(effect)
            at = clock.current + value.elapsed
            if queue and queue[0][0] <= at:
                # Something else is due first, or at the same time and scheduled earlier.
                self.call_at(at, self._advance, step, value, done, args, stream)
                return
            # Nothing is due before: the heap would hand this very event back next, so the
            # process goes on at once (the same order, one push and pop fewer).
            clock.jump_to(at)
            self.events += 1

    def run(self) -> None:
        """Run until no event is left; every attempt's effects are bounded in number."""
        queue = self._queue
        clock = self.clock
        pop = heapq.heappop
        while queue:
            at, _seq, action, args = pop(queue)
            if at > clock.current:
                clock.current = at
            self.events += 1
            action(*args)
