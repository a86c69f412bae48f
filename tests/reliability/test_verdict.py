"""The judge itself: what passes, what is a finding, and how a hang is located."""

from __future__ import annotations

import sys

from tests.reliability.harness import hang_symptom
from tests.reliability.mutations import CANARY
from tests.reliability.verdict import judge_cli, judge_error_text


def test_one_line_from_mxsim_is_clean_and_anything_else_at_exit_3_is_a_finding() -> None:
    assert judge_error_text("mxsim: error: a.yaml:3: expected a number\n").status == "clean"
    assert judge_error_text("mxsim: error: a.yaml:3: bad name 'a\nb'\n").symptom.startswith("error message spans")
    assert judge_error_text("mxsim: error: a\rb\n").status == "bad-error"
    assert judge_error_text("Error: no such option\n").status == "bad-error"
    assert judge_error_text("").status == "bad-error"
    assert "over 1000" in judge_error_text("mxsim: error: " + "x" * 2000).symptom


def test_an_exception_is_a_traceback_named_by_where_it_was_raised() -> None:
    try:
        int("x")
    except ValueError as error:
        verdict = judge_cli(1, "", "", error, sys.exc_info()[2])
    assert verdict.status == "traceback"
    assert verdict.symptom.startswith("ValueError raised at ") and "test_verdict.py" in verdict.symptom


def test_exits_0_to_2_ran_unless_they_quote_the_planted_file() -> None:
    assert judge_cli(2, "bounced", "", None, None).status == "ran"
    assert judge_cli(1, f"... {CANARY} ...", "", None, None).status == "leak"
    assert judge_cli(0, "", "Traceback (most recent call last):\n", None, None).status == "bad-error"
    assert judge_cli(4, "", "", None, None).status == "bad-error"


def test_a_hang_is_named_by_mxsims_innermost_function() -> None:
    stack = (
        'Stack (most recent call first):\n'
        '  File "/usr/lib/python3/site-packages/dns/name.py", line 459 in is_absolute\n'
        '  File "/usr/lib/python3/site-packages/dns/zonefile.py", line 454 in _generate_line\n'
        '  File "/home/x/mxsim/scenario/load.py", line 399 in parse\n'
        '  File "/home/x/mxsim/cli/trace.py", line 60 in trace\n'
    )
    symptom, where = hang_symptom(stack)
    assert symptom == "busy in mxsim/scenario/load.py (parse)"
    assert where.startswith("dns/name.py:459 (is_absolute) <- dns/zonefile.py:454")
