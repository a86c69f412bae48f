"""`check`'s SMTP probe against drawn hostile hosts (tests/hostile/smtp_servers.py) on 127.0.0.1.

Each example draws a misbehaviour, an --smtp-timeout in 0.2-0.6 s and a drip interval, and
probes the host as `check` does (tests/reliability/hostile.py says what passes: within a
few timeouts, never MAIL, RCPT, DATA or BDAT, a state of accepted, failed or unknown).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hostile.smtp_servers import Mode
from tests.reliability.choice import DrawChooser
from tests.reliability.conftest import CI, assert_verdict
from tests.reliability.hostile import draw_hostile_smtp, run_hostile_smtp


@settings(CI, max_examples=40, deadline=None)
@given(st.data())
def test_a_probe_of_a_hostile_host_ends_in_a_few_timeouts_and_never_sends_mail(data: st.DataObject) -> None:
    job, described = draw_hostile_smtp(DrawChooser(data))
    assert_verdict(run_hostile_smtp(job), described)


def test_a_host_that_takes_mail_commands_would_be_seen_taking_them() -> None:
    # The property's "never MAIL" could not fail if the server did not record commands.
    verdict = run_hostile_smtp({"mode": Mode.ACCEPT.value, "timeout": 0.5, "drip_interval": 1.0})
    assert verdict.passed and verdict.symptom.startswith("accepted"), verdict
