"""One stream observed over several lab seeds, and the arithmetic that pools them.

The lab draws a farm's backend for each question from a seeded sequence, so a run with
one seed is one realisation of the farm's draws, and running it again replays the same
draws. A stream is therefore split among K seeds fixed in advance (`lab_seeds`: the k-th
depends only on the scenario, the MTA and k, never on what a run showed), each run
handed its share of the messages (`split`), and pooled:

- the real share is over all messages; its error is clustered by (seed, draw), since
  runs with different seeds share no answer (`pooled_draws` numbers their draws apart);
- the model is replayed as the same design: each of its replications is K independent
  replays of the runs' sizes, and its share is their messages' total over N
  (`pooled_model`). The spread of that share over the replications is the sampling error
  of the pooled real share under the model; the spread of one replay of N messages is
  not (an MTA that keeps one answer for a whole run makes one draw of a run, so K runs
  are K draws where one run of N is one).
"""

from __future__ import annotations

import math
import statistics
import zlib
from collections.abc import Sequence


def lab_seeds(scenario: str, mta: str, count: int) -> list[int]:
    """The lab's seeds for a stream, fixed in advance: asking for more extends the list."""
    return [zlib.crc32(f"{scenario} {mta} {k}".encode()) for k in range(count)]


def split(messages: int, runs: int) -> list[int]:
    """Messages per run: as even as can be, the larger shares first."""
    if not 1 <= runs <= messages:
        raise ValueError(f"{messages} messages cannot be split among {runs} runs")
    base, extra = divmod(messages, runs)
    return [base + (1 if k < extra else 0) for k in range(runs)]


def pooled_draws(per_run: Sequence[Sequence[int]]) -> list[int]:
    """Each message's draw across runs, numbered apart: draw d of run k is no draw of another run."""
    out: list[int] = []
    offset = 0
    for clusters in per_run:
        out += [offset + c for c in clusters]
        offset += max(clusters, default=-1) + 1
    return out


def pooled_model(counts: Sequence[Sequence[int]], messages: int) -> tuple[float, float]:
    """The model's share and the standard error of a real share against it.

    `counts[s][k]`: the messages of run k that had the outcome in the model's replication
    s, each replication K independent replays of the runs' sizes, `messages` in all. The
    share of replication s is its total over `messages`; the model's share is their mean.
    Under the model the real pooled share is one more such replication, so the error of
    real - mean is the replications' spread times sqrt(1 + 1/S) (the mean's own error).
    """
    shares = [sum(row) / messages for row in counts]
    mean = statistics.fmean(shares)
    spread = statistics.stdev(shares) if len(shares) > 1 else 0.0
    return mean, spread * math.sqrt(1 + 1 / len(shares))
