"""The sampling plan's queries, made as they are taken, are the round-robin list in its order."""

from __future__ import annotations

import dns.name
import dns.rdatatype

from mxsim.audit.probes import SAMPLE_TYPES, Plan, Query

DOMAIN = dns.name.from_text("zone00016.org.")


def _round_robin(addresses: list[str], samples: int) -> list[Query]:
    """The plan written out in full: the TCP queries, then each round's types, RD clear then set."""
    ordered = sorted(addresses, key=lambda a: (1 if ":" in a else 0, a))
    found = [Query(a, DOMAIN, dns.rdatatype.MX, rd=False, tcp=True) for a in ordered]
    for _round in range(samples):
        for qtype in SAMPLE_TYPES:
            for rd in (False, True):
                found.extend(Query(a, DOMAIN, qtype, rd) for a in ordered)
    return found


def _plan(addresses: list[str], samples: int) -> Plan:
    return Plan(DOMAIN, DOMAIN, {a: [dns.name.from_text(f"ns{i}.example.")] for i, a in enumerate(addresses)},
                samples)


def test_the_planned_queries_are_the_round_robin_in_order() -> None:
    for addresses in (["198.18.0.53"], ["198.18.1.53", "198.18.0.53"], ["2001:db8::53", "192.0.2.2", "192.0.2.1"]):
        for samples in (1, 2, 7, 20):
            planned = _plan(addresses, samples).queries()
            expected = _round_robin(addresses, samples)
            assert len(planned) == len(expected) == _plan(addresses, samples).through_round(samples)
            assert list(planned) == expected
            assert [planned[i] for i in range(-3, 0)] == expected[-3:]


def test_slices_of_slices_take_the_same_queries_as_the_list() -> None:
    addresses = ["198.18.0.53", "198.18.1.53"]
    planned, expected = _plan(addresses, 20).queries(), _round_robin(addresses, 20)
    first = _plan(addresses, 20).first_round()
    rest, rest_list = planned[first:], expected[first:]
    for cut in (0, 1, 24, 120, len(rest_list), len(rest_list) + 5):
        assert list(rest[:cut]) == rest_list[:cut]
        assert list(rest[cut:]) == rest_list[cut:]
        assert list(rest[cut:][:24]) == rest_list[cut:][:24]
        assert bool(rest[cut:]) == bool(rest_list[cut:])
