"""What each MTA tells the sender of a message returned for its age, in the model's words.

The logged lines below are the real MTAs' own (Debian bookworm's packages, in the
`expires` retry case: docs/agreement.md#retries); the log reader that the agreement run
uses must find in them the words the model gives, with the lifetime written as each
MTA writes it.
"""

from __future__ import annotations

import pytest

from mxsim.agree.expiry import bounce_status, compare_expiry, expired_words
from mxsim.engine import profiles_for
from mxsim.mta.profiles.base import Profile
from mxsim.mta.profiles.sendmail import interval_words
from mxsim.mta.results import Failure

RECIPIENT = "user@example.com"
REFUSED = Failure.defer("4.4.1", "connect to mx.example.com[192.0.2.10]:25: Connection refused")

# mta, lifetime overrides, (status, words), a line the real MTA logged as it expired the message
CASES = [
    ("postfix", {"maximal_queue_lifetime": "5s"}, ("5.4.1", "status=expired, returned to sender"),
     "Dec 04 14:53:44 mta postfix/qmgr[15168]: 2555423482E: from=<agree@mxsim-agree.invalid>, "
     "status=expired, returned to sender"),
    ("exim", {}, ("5.0.0", "retry timeout exceeded"),
     "2026-12-04 14:53:44 1xZUfJ-0003uN-1B ** user@example.com: retry timeout exceeded"),
    ("opensmtpd", {"queue_ttl": "15s"}, ("", "Envelope expired"),
     "relay: Expire for bdd3d7bda0390013: from=<agree@mxsim-agree.invalid>, to=<user@example.com>, "
     "rcpt=<->, delay=15s, stat=Envelope expired"),
    ("sendmail", {"Timeout.queuereturn": "5s"}, ("4.4.7", "Cannot send message for 5 seconds"),
     "Dec  4 14:53:44 sendmail[15362]: 6B4ErahE014769: 6B4EriSO015362: DSN: Cannot send message for 5 seconds"),
]


def profile(mta: str, overrides: dict[str, str]) -> Profile:
    return profiles_for((mta,), {f"{mta}:{k}": v for k, v in overrides.items()})[0]


@pytest.mark.parametrize(("mta", "overrides", "notice", "logged"), CASES, ids=[c[0] for c in CASES])
def test_model_gives_the_words_the_real_mta_logs(
    mta: str, overrides: dict[str, str], notice: tuple[str, str], logged: str,
) -> None:
    model = profile(mta, overrides).expired_notice(RECIPIENT, REFUSED)
    assert model == notice
    real = expired_words(mta, ["a line before it", logged])
    assert real == model[1]
    assert compare_expiry(model, real, None).agreed


def test_sendmail_writes_its_lifetime_as_pintvl_does() -> None:
    assert profile("sendmail", {}).expired_notice(RECIPIENT, REFUSED)[1] == "Cannot send message for 5 days"
    assert profile("sendmail", {"Timeout.queuereturn": "10d"}).lifetime_words() == "1 week, 3 days"
    assert interval_words(0) == "zero seconds"
    assert interval_words(3600 + 60 + 1) == "1 hour, 1 minute, 1 second"
    assert interval_words(2 * 3600 + 30 * 60) == "2 hours, 30 minutes"


def test_expired_bounces_name_what_exim_and_opensmtpd_put_there() -> None:
    # Exim's queued bounce: the address, then "retry timeout exceeded" in place of the host error.
    assert profile("exim", {}).bounce_text(RECIPIENT, REFUSED, deferred=True) == (
        "user@example.com\n    retry timeout exceeded")
    # OpenSMTPD's bounce report: `user@example.com: Envelope expired`.
    assert profile("opensmtpd", {}).bounce_text(RECIPIENT, REFUSED, deferred=True) == (
        "user@example.com: Envelope expired")
    assert "Message could not be delivered for 5 days" in profile("sendmail", {}).bounce_text(
        RECIPIENT, REFUSED, deferred=True)


def test_status_is_read_from_a_bounce_left_in_the_queue() -> None:
    queue = {
        "first: var/spool/exim4/input/1xZUfJ-0003uN-1B-D": "1xZUfJ-0003uN-1B-D\nOne message.\n",
        "retry: var/spool/exim4/input/1xZUfQ-000404-38-D": (
            "Content-type: message/delivery-status\n\nReporting-MTA: dns; mta.mxsim-agree.invalid\n\n"
            "Action: failed\nFinal-Recipient: rfc822;user@example.com\nStatus: 5.0.0\n"),
    }
    assert bounce_status(queue) == "5.0.0"
    assert bounce_status({k: v for k, v in queue.items() if k.startswith("first")}) is None


def test_a_differing_status_or_missing_expiry_differs() -> None:
    assert not compare_expiry(("5.0.0", "retry timeout exceeded"), "retry timeout exceeded", "5.4.7").agreed
    assert not compare_expiry(("4.4.7", "Cannot send message for 5 seconds"), None, None).agreed
    assert not compare_expiry(("4.4.7", "Cannot send message for 5 days"),
                              "Cannot send message for 5 seconds", None).agreed
