"""Sizing DNS messages leaves Python's global random generator alone.

dnspython shuffles an RRset's records from the global `random` module when it renders
them, unless told not to. mxsim draws only from its own seeded generators, so a size
computed from a shuffled rendering would disturb a generator nobody seeded (and a
property-based test's own draws).
"""

from __future__ import annotations

import random

import dns.message
import dns.rrset

from mxsim.scenario.load import bundled_scenarios, load_scenario
from mxsim.scenario.zonetext import message_size
from mxsim.transport.model import _wire_size


def _mx_rrset() -> dns.rrset.RRset:
    return dns.rrset.from_text(
        "example.test.", 300, "IN", "MX",
        *(f"{10 * i} mx{i}.example.test." for i in range(1, 9)),
    )


def test_sizing_an_rrset_draws_nothing() -> None:
    before = random.getstate()
    size = message_size(_mx_rrset())
    assert random.getstate() == before
    assert size > 12


def test_sizing_a_reply_draws_nothing() -> None:
    reply = dns.message.make_response(dns.message.make_query("example.test.", "MX"))
    reply.answer.append(_mx_rrset())
    before = random.getstate()
    assert _wire_size(reply) > 12
    assert random.getstate() == before


def test_loading_every_bundled_scenario_draws_nothing() -> None:
    before = random.getstate()
    for name in bundled_scenarios():
        load_scenario(name)
    assert random.getstate() == before
