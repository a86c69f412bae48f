"""Odd recipients for `trace -r` and odd domains and options for `check`: run, or one line and exit 3.

`trace` runs over the model (no network). `check` runs with --no-smtp against root hints
naming 127.0.0.1, at a port where the worker holds a socket that never answers: its
argument checks run for real, and whatever it then sends stays on loopback.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reliability.choice import DrawChooser
from tests.reliability.conftest import CI, assert_passes
from tests.reliability.harness import Worker
from tests.reliability.jobs import draw_check, draw_recipient
from tests.reliability.known import KNOWN_CHECKS
from tests.reliability.worker import loopback_only


@settings(CI, max_examples=120)
@given(st.data())
def test_trace_with_an_odd_recipient_runs_or_fails_with_one_line(worker: Worker, data: st.DataObject) -> None:
    assert_passes(worker, *draw_recipient(DrawChooser(data)))


@settings(CI, max_examples=60)
@given(st.data())
def test_check_with_an_odd_domain_or_option_runs_or_fails_with_one_line(worker: Worker, data: st.DataObject) -> None:
    assert_passes(worker, *draw_check(DrawChooser(data)))


@pytest.mark.parametrize("name", sorted(KNOWN_CHECKS))
def test_check_with_a_known_hostile_argument_runs_or_fails_with_one_line(worker: Worker, name: str) -> None:
    assert_passes(worker, KNOWN_CHECKS[name], name)


def test_the_guard_refuses_root_hints_outside_loopback() -> None:
    # The check jobs rely on it: a mutated root hints file must never send a query elsewhere.
    assert loopback_only(". 3600 NS a.root.\na.root. 3600 A 127.0.0.1\n")
    assert not loopback_only(". 3600 NS a.root.\na.root. 3600 A 198.41.0.4\n")
    assert not loopback_only(". 3600 NS a.root.\na.root. 3600 AAAA 2001:503:ba3e::2:30\n")
