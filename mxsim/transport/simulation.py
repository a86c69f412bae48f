"""Many engine steps at once on one virtual clock: a discrete-event loop (SimPy's shape).

Each step (a delivery attempt) is a process. When it yields an effect, the world answers
as of the current virtual time and the process resumes when the effect's elapsed time
has passed; meanwhile other processes run. Events due together run in the order they
were scheduled (heap key: time, then a counter), so a seed gives one history.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from mxsim.clock import VirtualClock
from mxsim.transport.base import Step
from mxsim.transport.model import ModelTransport

Done = Callable[[Any], None]


class Simulation:
    def __init__(self, transport: ModelTransport) -> None:
        self.transport = transport
        self.clock: VirtualClock = transport.clock
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self.events = 0

    def call_at(self, at: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (at, next(self._counter), action))

    def start(self, step: Step[Any], done: Done) -> None:
        """Run a step from now on; `done(value)` when it ends."""
        self._advance(step, None, done)

    def _advance(self, step: Step[Any], value: Any, done: Done) -> None:
        try:
            effect = step.send(value)
        except StopIteration as finished:
            done(finished.value)
            return
        result = self.transport.answer(effect)
        self.call_at(self.clock.now() + result.elapsed, lambda: self._advance(step, result, done))

    def run(self) -> None:
        """Run until no event is left; every attempt's effects are bounded in number."""
        while self._queue:
            at, _seq, action = heapq.heappop(self._queue)
            self.clock.jump_to(max(at, self.clock.now()))
            self.events += 1
            action()
