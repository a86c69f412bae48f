"""The replay of an MX change against the closed form (docs/resolver-population.md).

Warm caches of one kind, C independent caches, dense arrivals, MX TTL T, the MX changed at
time T: a cache keeps the old MX until its entry expires, and in steady state the time
left is uniform over the TTL, so the share of lookups at t after the change that still
see the old MX is max(0, 1 - t/T), and over the first T about 1/2. The finite model
shifts that curve by s, max(0, min(1, 1 - (t - s)/T)): an entry lives through the second
its TTL ends (unbound's whole-second rule, 1 s), and a cache fetches again only at its
next lookup after expiry, half the gap between one cache's lookups when messages go
round the caches. (When each message draws its cache at random, that wait and the
caches caught between expiry and their next lookup at the change cancel, the wait being
memoryless, and the second alone remains.) Each cache is one independent draw, so the
spread is that of C uniform (or Bernoulli) draws; every check holds within 4 sigma.
With a population, the share is the mix of the kinds' curves weighted by their shares.
"""

from __future__ import annotations

import math

import pytest

from mxsim.commands.replay import ReplayConfig, run_replay
from mxsim.scenario import load_scenario_text
from mxsim.scenario.spec import ScenarioSpec

OLD = "mx.old-provider.example"
QUARTERS = 4


def _spec(ttl: int, population: str = "") -> ScenarioSpec:
    zone = """
    $TTL {ttl}
    @    SOA  ns1.example.org. hostmaster.example.org. 1 7200 900 1209600 {ttl}
    @    NS   ns1.example.org.
    @    MX   10 {mx}.
    ns1  {ttl} A 192.0.2.53
"""
    def text(mx: str, indent: str) -> str:
        return "\n".join(indent + line.strip() for line in zone.format(ttl=ttl, mx=mx).strip().splitlines())

    return load_scenario_text(f"""
mxsim: 1
name: closed-form
recipient: user@example.org
zones:
  example.org: |
{text(OLD, "    ")}
  old-provider.example: "mx 86400 A 192.0.2.25"
  new-provider.example: "mx 86400 A 192.0.2.26"
servers:
  ns1.example.org: {{address: 192.0.2.53, zones: [example.org]}}
hosts:
  default: {{smtp: accept}}
resolver:
  warm: true
{population}
timeline:
  - at: {ttl}s
    zones:
      example.org: |
{text("mx.new-provider.example", "        ")}
""")


def _old_share_by_quarter(spec: ScenarioSpec, ttl: int, caches: int, messages: int) -> list[tuple[int, int]]:
    """(first attempts at the old host, first attempts) per quarter TTL after the change."""
    config = ReplayConfig(specs=(spec,), messages=messages, mtas=("rfc5321",), arrival=2.0 * ttl, resolvers=caches,
                          first_attempt_only=True, bucket=ttl / QUARTERS, seed=7)
    run = run_replay(config).scenarios[0].results[0]
    after = run.buckets[QUARTERS:2 * QUARTERS]
    return [(dict(b.first_attempt_hosts).get(OLD, 0), b.first_attempts) for b in after]


def _curve_mean(ttl: float, start: float, end: float, shift: float) -> float:
    """The mean of max(0, min(1, 1 - (t - shift)/T)) over [start, end)."""
    def integral(t: float) -> float:  # of the curve from 0 to t
        flat = min(t, shift)
        sloped = min(max(t - shift, 0.0), ttl)
        return flat + sloped - sloped * sloped / (2 * ttl)
    return (integral(end) - integral(start)) / (end - start)


@pytest.mark.parametrize(("ttl", "caches"), [(300, 60), (1200, 60), (600, 200)])
def test_share_still_at_the_old_mx_follows_one_minus_t_over_ttl(ttl: int, caches: int) -> None:
    messages = 60 * caches
    counts = _old_share_by_quarter(_spec(ttl), ttl, caches, messages=messages)
    old = sum(o for o, _n in counts)
    total = sum(n for _o, n in counts)
    shift = 1 + caches * (2.0 * ttl / messages) / 2  # the whole second, half a cache's gap between lookups
    expected = _curve_mean(ttl, 0, ttl, shift)  # 1/2, and a little more for the shift
    sigma = math.sqrt(1 / (12 * caches))
    assert abs(old / total - expected) < 4 * sigma, (old / total, expected, sigma)
    for quarter, (o, n) in enumerate(counts):
        p = _curve_mean(ttl, quarter * ttl / QUARTERS, (quarter + 1) * ttl / QUARTERS, shift)
        quarter_sigma = math.sqrt(p * (1 - p) / caches + p * (1 - p) / n)
        assert abs(o / n - p) < 4 * quarter_sigma, (quarter, o / n, p)


def test_a_population_gives_the_weighted_mix_of_its_kinds_curves() -> None:
    """Half the senders use a resolver that keeps nothing (unbound cache-max-ttl: 0): they
    see the new MX at once, their curve is 0; the other half keep it as above. The mix: half that curve."""
    ttl, caches, keeping = 1200, 60, 0.5
    population = f"""  population:
    - {{kind: unbound, share: {1 - keeping:.1f}, caches: {caches}, cache-max-ttl: 0}}
    - {{kind: unbound, share: {keeping}, caches: {caches}}}"""
    counts = _old_share_by_quarter(_spec(ttl, population), ttl, caches, messages=120 * caches)
    after = sum(n for _o, n in counts)
    old = sum(o for o, _n in counts) / after
    expected = (1 - keeping) * 0.0 + keeping * _curve_mean(ttl, 0, ttl, 1.0)
    sigma = math.sqrt(keeping**2 / (12 * caches) + 0.25 * keeping * (1 - keeping) / after)
    assert abs(old - expected) < 4 * sigma, (old, expected, sigma)
    assert old < _curve_mean(ttl, 0, ttl, 1.0) - 4 * sigma  # not one kind's curve
