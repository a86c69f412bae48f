"""The comparison rules and log readers, without real MTAs: fast, in every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mxsim.agree.compare import Levels, compare_attempts, compare_dns
from mxsim.agree.mtas import NAMES as MTAS
from mxsim.agree.mtas import driver
from mxsim.agree.mtas.base import SENDER_DOMAIN
from mxsim.agree.observation import Question, Try
from mxsim.agree.run import Case, observe_real
from mxsim.errors import ExitCode, UsageError

LEVELS = {"192.0.2.1": 10, "192.0.2.2": 10, "192.0.2.3": 20}
NAMES = Levels({"a.example": 10, "b.example": 10, "c.example": 20}, frozenset({"a.example", "b.example"}), LEVELS)


def test_equal_preference_questions_compare_as_a_multiset() -> None:
    model = [Question("example", "MX"), Question("a.example", "A"), Question("b.example", "A")]
    real = [Question("example", "MX"), Question("b.example", "A"), Question("a.example", "A")]
    assert compare_dns(model, real, NAMES).agreed


def test_a_missing_question_shows_in_the_diff() -> None:
    model = [Question("example", "MX"), Question("a.example", "A")]
    real = [Question("example", "MX")]
    result = compare_dns(model, real, NAMES)
    assert not result.agreed
    # a.example shares its preference with another host: named by the preference in the diff
    assert any(line.startswith("-<an MX 10 host> A") or line.startswith("-a.example A") for line in result.diff)


def test_concurrent_lookups_form_one_block_across_preferences() -> None:
    model = [Question("example", "MX"), Question("a.example", "A"), Question("c.example", "A")]
    real = [Question("example", "MX"), Question("c.example", "A"), Question("a.example", "A")]
    assert not compare_dns(model, real, NAMES).agreed
    assert compare_dns(model, real, NAMES, concurrent=True).agreed


def test_reverse_lookups_of_one_level_compare_by_their_preference() -> None:
    # Which of two equal-preference addresses an MTA connects to first is chance.
    model = [Question("example", "MX"), Question("1.2.0.192.in-addr.arpa", "PTR"),
             Question("2.2.0.192.in-addr.arpa", "PTR"), Question("3.2.0.192.in-addr.arpa", "PTR")]
    real = [model[0], model[2], model[1], model[3]]
    assert compare_dns(model, real, NAMES).agreed
    # ... but a level's lookups come before the next level's, and a missing one is seen.
    assert not compare_dns(model, [model[0], model[3], model[1], model[2]], NAMES).agreed
    assert not compare_dns(model, model[:3], NAMES).agreed


def test_search_list_retries_count_and_join_their_host_block() -> None:
    retry = f"a.example.{SENDER_DOMAIN}"
    model = [Question("example", "MX"), Question("a.example", "A"), Question(retry, "A", "NXDOMAIN"),
             Question("c.example", "A")]
    real = [Question("example", "MX"), Question(retry, "A", "NXDOMAIN"), Question("c.example", "A"),
            Question("a.example", "A")]
    assert compare_dns(model, real, NAMES, concurrent=True).agreed
    without = [question for question in real if question.qname != retry]
    assert not compare_dns(model, without, NAMES, concurrent=True).agreed


def test_attempts_of_one_level_compare_as_sets_and_levels_in_order() -> None:
    model = [Try("a", "192.0.2.1", "refused"), Try("b", "192.0.2.2", "refused"), Try("c", "192.0.2.3", "accepted")]
    real = [Try("b", "192.0.2.2", "refused"), Try("a", "192.0.2.1", "refused"), Try("c", "192.0.2.3", "accepted")]
    candidates = {10: {"192.0.2.1", "192.0.2.2"}, 20: {"192.0.2.3"}}
    assert compare_attempts(model, real, LEVELS, candidates).agreed
    swapped = [real[2], *real[:2]]
    assert not compare_attempts(model, swapped, LEVELS, candidates).agreed


def test_an_address_limit_compares_counts_not_the_draw() -> None:
    candidates = {10: {"192.0.2.1", "192.0.2.2"}}
    model = [Try("a", "192.0.2.1", "refused")]
    assert compare_attempts(model, [Try("b", "192.0.2.2", "refused")], LEVELS, candidates).agreed
    two = [Try("b", "192.0.2.2", "refused"), Try("a", "192.0.2.1", "refused")]
    assert not compare_attempts(model, two, LEVELS, candidates).agreed


POSTFIX_LOG = [
    "Nov 27 15:44:06 mta postfix/smtp[9359]: connect to wa-students.org[151.101.2.10]:25: Connection timed out",
    "Nov 27 15:44:08 mta postfix/smtp[9359]: connect to wa-students.org[151.101.66.10]:25: Connection timed out",
    "Nov 27 15:44:08 mta postfix/smtp[9359]: 824D520C343: to=<student@wa-students.org>, relay=none, delay=4.1, "
    "delays=0.04/0.05/4/0, dsn=4.4.1, status=deferred (connect to wa-students.org[151.101.66.10]:25: "
    "Connection timed out)",
]


def test_postfix_log_reading() -> None:
    parsed = driver("postfix").parse(POSTFIX_LOG, "student@wa-students.org")
    assert [(t.address, t.result) for t in parsed.attempts] == [
        ("151.101.2.10", "timeout"), ("151.101.66.10", "timeout")]
    assert (parsed.outcome, parsed.dsn, parsed.names) == ("deferred", "4.4.1", ["wa-students.org"])


EXIM_LOG = [
    "2026-11-27 15:48:00 1xWyB6-00041E-0g <= agree@mxsim-agree.invalid U=root P=local S=400",
    "2026-11-27 15:48:02 1xWyB6-00041E-0g H=edlio.map.fastly.net [151.101.66.10] Connection timed out",
    "2026-11-27 15:48:04 1xWyB6-00041E-0g == student@sites.edlio.com <student@wa-students.org> R=dnslookup "
    "T=remote_smtp defer (110): Connection timed out",
]


def test_exim_log_reading() -> None:
    parsed = driver("exim").parse(EXIM_LOG, "student@wa-students.org")
    assert [(t.host, t.result) for t in parsed.attempts] == [("edlio.map.fastly.net", "timeout")]
    assert (parsed.outcome, parsed.envelope_recipient) == ("deferred", "student@sites.edlio.com")


def test_exim_reads_a_connection_closed_before_the_greeting() -> None:
    lines = [
        "2026-12-04 13:35:35 1xZTRm-0007Tm-1l H=mx1.example.com [192.0.2.10]: Remote host closed "
        "connection in response to initial connection",
        '2026-12-04 13:35:35 1xZTRm-0007Tm-1l => user@example.com R=dnslookup T=remote_smtp '
        'H=mx2.example.com [192.0.2.20] C="250 2.0.0 OK queued as mxsim-lab-1"',
    ]
    parsed = driver("exim").parse(lines, "user@example.com")
    assert [(t.address, t.result) for t in parsed.attempts] == [("192.0.2.10", "closed"), ("192.0.2.20", "accepted")]


SENDMAIL_LOG = [
    "transcript: makeconnection (mx1.example.com. [192.0.2.10].25 (2))",
    "transcript: Connect failed (Connection refused by mx1.example.com.); trying new address....",
    "transcript: makeconnection (mx2.example.com. [192.0.2.20].25 (2))",
    "transcript: 220 mx2.example.com ESMTP",
    "Nov 27 15:50:03 sendmail[17750]: 6ARFnxUM017750: to=user@example.com, delay=00:00:01, mailer=esmtp, "
    "relay=mx2.example.com. [192.0.2.20], dsn=2.0.0, stat=Sent (OK)",
    "queue: rRFC822; user@example.com",
]


def test_sendmail_transcript_reading() -> None:
    parsed = driver("sendmail").parse(SENDMAIL_LOG, "user@example.com")
    assert [(t.address, t.result) for t in parsed.attempts] == [
        ("192.0.2.10", "refused"), ("192.0.2.20", "accepted")]
    assert (parsed.outcome, parsed.envelope_recipient) == ("delivered", "user@example.com")


# -- the submission command line ----------------------------------------------------------

OPTION_LIKE = ["-X/tmp/x@example.org", "-oQ/tmp@example.org", "-C/tmp/evil.conf@example.org", "user\n@example.org"]


@pytest.mark.parametrize("mta", MTAS)
def test_the_submission_command_ends_its_options_before_the_recipient(mta: str) -> None:
    argv = driver(mta).submission("student@wa-students.org")
    assert argv[-2:] == ["--", "student@wa-students.org"]
    assert argv.count("--") == 1 and argv.index("-f") < argv.index("--")
    assert all(not word.startswith("-") for word in argv[argv.index("--") + 1 :])


@pytest.mark.parametrize("mta", MTAS)
@pytest.mark.parametrize("recipient", OPTION_LIKE)
def test_a_recipient_that_reads_as_an_option_never_reaches_an_mta(mta: str, recipient: str) -> None:
    with pytest.raises(UsageError) as caught:
        driver(mta).submission(recipient)
    assert caught.value.exit_code == ExitCode.BAD_INPUT


def test_a_case_with_such_a_recipient_fails_before_anything_runs() -> None:
    # Refused before the root check, the chroot and the namespace.
    with pytest.raises(UsageError):
        observe_real(Case("wa-students-2017", mta="exim", recipient="-X/tmp/x@example.org"))


@pytest.mark.parametrize("extra", [[], ["--table"]])
def test_mxsim_agree_refuses_such_a_recipient_with_exit_3(extra: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from mxsim.cli import main; main()", "agree", "wa-students-2017",
         "--mta", "exim", "--recipient=-X/tmp/x@example.org", *extra],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == ExitCode.BAD_INPUT, done.stderr
    assert done.stderr.splitlines() == [
        "mxsim: error: recipient '-X/tmp/x@example.org': expected an address such as user@example.org, "
        "not beginning with `-` and without control characters"
    ]
