"""Every MTA profile writes the same steps under the same names, and none judges a session itself.

The steps are listed at the top of mxsim/mta/profiles/base.py; `classify` there decides
what an SMTP session came to, for every MTA, and each profile only words the result.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import replace
from pathlib import Path

import pytest

from mxsim.mta.profiles import PROFILES, base
from mxsim.mta.profiles.base import AttemptWords, BounceWords, Profile, classify
from mxsim.mta.results import AttemptResult, Target, TlsRequirement
from mxsim.transport.base import ConnectResult, Reply, SmtpSession

# What every profile decides for itself: its own rule, in its own class body.
OWN_STEPS = (
    "route", "lookup_failure", "sort_mx", "families",
    "connect_timeout", "greeting_timeout", "failure",
    "retry_at", "warn_after", "expiry", "log_lines",
    "ATTEMPT_WORDS", "BOUNCE_WORDS",
)
# A host's addresses are looked up while routing, or (Sendmail) just before connecting.
ADDRESS_STEPS = ("host_addresses", "connect_targets")
# Written once in the base; a profile that wrote its own would split them again.
SHARED_ONLY = ("judge", "probe", "bounce_text")
PROFILE_DIR = Path(base.__file__).parent


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_each_profile_writes_every_step_itself(name: str) -> None:
    cls = PROFILES[name]
    assert issubclass(cls, Profile)
    # A variant of another profile (postfix-sts is postfix with an MTA-STS resolver) keeps its
    # parent's rules and writes only what differs, like a dialect copied from its parent.
    parent = cls.__bases__[0]
    written = {**vars(parent), **vars(cls)} if parent in PROFILES.values() else vars(cls)
    missing = [step for step in OWN_STEPS if step not in written]
    assert not missing, f"{cls.__name__} inherits {missing}: write its own rule (the base has none)"
    own = [step for step in ADDRESS_STEPS if step in written]
    assert len(own) == 1, f"{cls.__name__} should look addresses up in exactly one of {ADDRESS_STEPS}, has {own}"
    assert isinstance(cls.ATTEMPT_WORDS, AttemptWords)
    assert isinstance(cls.BOUNCE_WORDS, BounceWords)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_no_profile_judges_a_session_itself(name: str) -> None:
    cls = PROFILES[name]
    for step in SHARED_ONLY:
        assert getattr(cls, step) is getattr(Profile, step), f"{cls.__name__} overrides {step}"


def test_only_the_base_reads_an_smtp_session() -> None:
    """The session's connect result and greeting are read by `classify` alone."""
    readers = []
    for path in sorted(PROFILE_DIR.glob("*.py")):
        if path.name in ("base.py", "__init__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and any(a.name in ("ConnectResult", "SmtpSession") for a in node.names):
                readers.append(f"{path.name}:{node.lineno}")
    assert not readers, f"profiles that read SMTP sessions themselves: {readers}"


def test_the_base_docstring_names_every_step() -> None:
    doc = inspect.getdoc(base) or ""
    missing = [step for step in (*OWN_STEPS, *ADDRESS_STEPS, "order", "finish", "deferral_dsn", "no_address",
                                 "suspended", "blocked", "all_blocked", "remember", "queue_id", "classify")
               if step not in doc]
    assert not missing, f"profiles/base.py's docstring should say what these steps mean: {missing}"


REQUIRED = TlsRequirement(("mx.example.com",), host="mx.example.com")


def _session(kind: str) -> SmtpSession:
    if kind == "tls_failed":  # TLS required, and the host offers no STARTTLS
        return SmtpSession(ConnectResult.CONNECTED, 1.0, greeting=Reply(220, "mx ESMTP"))
    greetings = {"accepted": Reply(220, "mx ESMTP"), "tempfail": Reply(421, "busy"), "rejected": Reply(554, "no")}
    if kind in ("timeout", "refused", "unreachable"):
        return SmtpSession(ConnectResult(kind), 1.0)
    if kind == "banner_timeout":
        return SmtpSession(ConnectResult.CONNECTED, 1.0, greeting_timeout=True)
    if kind == "closed":
        return SmtpSession(ConnectResult.CONNECTED, 1.0, closed=True)
    return SmtpSession(ConnectResult.CONNECTED, 1.0, greeting=greetings[kind])


@pytest.mark.parametrize("result", list(AttemptResult))
def test_classify_names_each_result_once(result: AttemptResult) -> None:
    required = REQUIRED if result == AttemptResult.TLS_FAILED else None
    assert classify(_session(result.value), required) == result


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_result_has_words_in_every_profile(name: str) -> None:
    profile = PROFILES[name]()
    plain = Target("mx.example.com", "192.0.2.25", 10, "mx.example.com")
    said = {}
    for result in AttemptResult:
        target = replace(plain, tls=REQUIRED) if result == AttemptResult.TLS_FAILED else plain
        judged, words = profile.judge(target, _session(result.value))
        assert judged == result
        assert words and "{" not in words, f"{name} {result}: {words!r}"
        said[result] = words
    assert len(set(said.values())) >= 6, f"{name} says the same words for different results: {said}"
