"""What a delivery reads from outside itself, besides DNS answers and SMTP sessions.

`deliver` (mta/profiles/base.py) draws random choices and reads the sender's memory
(suspended destinations, hosts waiting for their retry time, kept relays, MTA-STS
policies). Without a tap it does so directly. With one, each draw and each read goes
through the tap, which can write it down, or hand back what it wrote down before, so an
attempt can be followed again without running the MTA's rules (mta/attempt_memo.py).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from mxsim.transport.streams import RandomSource

if TYPE_CHECKING:
    from mxsim.mta.queue import SenderState
    from mxsim.mta.sts import CachedPolicy

Order = tuple[int, ...]
Draw = Callable[..., Order]  # (rng, *args) -> an order of indices (mta/draws.py)
V = TypeVar("V", bound=Hashable)
# A read of the sender's memory as of a time: the same call gives the same answer while
# that memory and the time read the same.
Read = Callable[["SenderState", float], V]


class Tap(Protocol):
    def decide(self, rng: RandomSource, draw: Draw, args: tuple[Any, ...]) -> Order:
        """`draw(rng, *args)`, or the order it gave before."""

    def read(self, what: str, subject: Hashable, call: Read[V], now: float) -> V:
        """`call(sender, now)`: `what` names the read and `subject` what it is about."""

    def policies(self, sender: SenderState) -> dict[str, CachedPolicy]:
        """The sender's MTA-STS policy cache, as the routing step may read and change it."""
