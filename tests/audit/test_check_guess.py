"""`mxsim check` makes the final paths while the last probes wait, guessing that their
connects time out (`commands.check_paths._guess`): a right guess saves the work after the
probes end, a wrong one is made again; the report is the same either way."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mxsim.commands import check_paths as check
from mxsim.report import check_json
from mxsim.scenario import load_scenario
from tests.audit.conftest import check_spec

pytestmark = pytest.mark.lab

# Both servers answer from the broken backend: a CNAME to Fastly, whose addresses drop SYNs.
BROKEN = ["ns1.hover.com=hover01", "ns2.hover.com=hover01"]
# ns1 as above, ns2 from a healthy backend (Google's MX hosts accept): both kinds of probe.
MIXED = ["ns1.hover.com=hover01", "ns2.hover.com=hover05"]
# Long enough that the Fastly probes still wait when all else is done, on a slow machine too.
SMTP_TIMEOUT = 2.0


def _report(monkeypatch: pytest.MonkeyPatch, pins: list[str], guess: Callable[..., Any] | None,
            events: list[str]) -> str:
    real_paths, real_probe, real_guess = check._paths, check._probe, check._guess

    def paths(*args: Any) -> Any:
        events.append("paths")
        return real_paths(*args)

    def probe(*args: Any) -> Any:
        result = real_probe(*args)
        events.append("probes ended")
        return result

    def guessing(*args: Any) -> Any:
        made = (guess or real_guess)(*args)
        events.append("guess" if made is not None else "no guess")
        return made

    with monkeypatch.context() as patch:
        patch.setattr(check, "_paths", paths)
        patch.setattr(check, "_probe", probe)
        patch.setattr(check, "_guess", guessing)
        result = check_spec(load_scenario("wa-students-2017"), pins=pins, rate=0.0, seed=3, smtp_timeout=SMTP_TIMEOUT)
    report = json.loads(check_json.render(result))
    report.pop("queries")  # how many were sent may vary by a retry: not what is compared here
    return json.dumps(report, sort_keys=True)


def test_a_right_guess_leaves_nothing_to_do_when_the_probes_end(monkeypatch: pytest.MonkeyPatch) -> None:
    guessed: list[str] = []
    with_guess = _report(monkeypatch, BROKEN, None, guessed)
    unguessed: list[str] = []
    without = _report(monkeypatch, BROKEN, lambda *args: None, unguessed)
    assert with_guess == without
    assert unguessed[-2:] == ["probes ended", "paths"]
    # The Fastly probes wait out their timeout while the check does everything else; the
    # guess makes its paths (the first event) before saying it made one.
    assert guessed[-3:] == ["paths", "guess", "probes ended"], guessed


def test_a_wrong_guess_is_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong(*args: Any) -> check._Guess:
        return check._Guess(hosts=(), paths=[])  # no hosts: never what the probes find

    events: list[str] = []
    wrongly = _report(monkeypatch, MIXED, wrong, events)
    assert events[-3:] == ["guess", "probes ended", "paths"]
    assert wrongly == _report(monkeypatch, MIXED, lambda *args: None, [])
