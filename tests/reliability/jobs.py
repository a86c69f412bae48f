"""Jobs for the worker, drawn from the generators: one function per kind of input.

Each returns the job (JSON-ready) and a readable description of the input.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.reliability.choice import Chooser, coin, pick
from tests.reliability.mutations import Mutant, mutate_scenario
from tests.reliability.values import clip, odd_name, odd_recipient

Job = dict[str, Any]
RECIPIENT_SCENARIOS = ("wa-students-2017", "null-mx", "nxdomain", "cname-chain-to-mx", "mx-ip-literal")
LOOPBACK_HINTS = ". 3600 NS a.root.\na.root. 3600 A 127.0.0.1\n"

# Option values of the right type for click, wrong or extreme for mxsim.
CHECK_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("--samples", ("0", "-1", "1", "200", "201", "100000000000000000000")),
    ("--budget", ("0", "-1", "1", "100000000000000000000")),
    ("--rate", ("-1", "0", "nan", "inf", "1e-300")),
    ("--smtp-timeout", ("0", "-1s", "nan", "inf", "1e309", "abc", "5d", "", "\r\n")),
    ("--dns-timeout", ("0", "-1s", "nan", "inf", "1e309", "abc", "0.01", "", "1e-300s")),
    ("--mta", ("postfix", "nosuch", "", "POSTFIX", "exim\r\n")),
    ("--seed", ("-1", "100000000000000000000")),
)


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def scenario_job(mutant: Mutant) -> Job:
    return {"kind": "scenario", "file": encode(mutant.text),
            "extra": {name: encode(content) for name, content in mutant.extra.items()}, "args": ["--seed", "1"]}


def draw_scenario(chooser: Chooser) -> tuple[Job, str]:
    mutant = mutate_scenario(chooser)
    return scenario_job(mutant), mutant.describe()


def draw_recipient(chooser: Chooser) -> tuple[Job, str]:
    """`mxsim trace SCENARIO -r RECIPIENT` over the model: no network."""
    scenario = pick(chooser, RECIPIENT_SCENARIOS)
    domain = {"wa-students-2017": "wa-students.org"}.get(scenario, "example.org")
    recipient, why = odd_recipient(chooser, domain)
    argv = ["trace", scenario, "-r", recipient, "-m", pick(chooser, ("postfix", "exim", "sendmail", "rfc5321",
                                                                     "opensmtpd"))]
    return {"kind": "cli", "argv": argv}, f"trace {scenario} -r {clip(recipient)} ({why})"


def draw_check(chooser: Chooser) -> tuple[Job, str]:
    """`mxsim check DOMAIN [options]` against a root on 127.0.0.1 that never answers."""
    domain, why = odd_name(chooser)
    if coin(chooser, 3):
        domain, why = (pick(chooser, ("wa-students.org", "example.org")), "plain") if coin(chooser) else \
            (domain + ".example.org", f"{why}, then .example.org")
    options: list[str] = []
    shown = []
    for _ in range(chooser.integer(0, 2)):
        option, values = pick(chooser, CHECK_OPTIONS)
        value = pick(chooser, values)
        options += [option, value]
        shown.append(f"{option} {value!r}")
    job: Job = {"kind": "check", "argv": [domain, *options]}
    hints_why = ""
    if coin(chooser, 4):
        hints, hints_why = root_hints(chooser)
        job["root_hints"] = encode(hints)
    text = f"check {clip(domain)} ({why}) {' '.join(shown)}"
    return job, text + (f" root hints: {hints_why}" if hints_why else "")


def root_hints(chooser: Chooser) -> tuple[bytes, str]:
    """A damaged root hints file (named.root form) whose only address is 127.0.0.1."""
    base = LOOPBACK_HINTS.encode()
    kind = chooser.integer(0, 6)
    if kind == 0:
        at = chooser.integer(0, len(base))
        byte = pick(chooser, (b"\xff", b"\xc3", b"\x00", b"\r", b"\xef\xbb\xbf"))
        return base[:at] + byte + base[at:], f"byte {byte!r} at {at}"
    if kind == 1:
        return base[: chooser.integer(0, len(base))], "cut"
    if kind == 2:
        return b"", "empty"
    if kind == 3:
        count = pick(chooser, (100, 20000))
        return b"".join(f"r{i}.root. 3600 A 127.0.0.1\n. 3600 NS r{i}.root.\n".encode() for i in range(count)), \
            f"{count} root servers"
    if kind == 4:
        return b"$INCLUDE /etc/passwd\n" + base, "$INCLUDE"
    if kind == 5:
        return b"$GENERATE 1-100000 r$.root. A 127.0.0.1\n" + base, "$GENERATE 1-100000"
    return base.replace(b"a.root.", b"a" * 64 + b".root."), "64-character label"
