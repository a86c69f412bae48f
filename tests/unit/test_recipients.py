"""A recipient is checked alike on the command line and in a scenario file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mxsim.cli import app

runner = CliRunner()
SCENARIO = """mxsim: 1
name: idn
recipient: {recipient}
zones:
  xn--mnchen-3ya.de: |
    $TTL 300
    @ SOA ns1 host 1 1 1 1 1
    @ NS ns1
    @ MX 10 mx
    ns1 A 192.0.2.53
    mx A 192.0.2.25
hosts:
  default: {{smtp: accept}}
"""
BAD = [
    ("@example.com", "the part before @ is empty"),
    ("a@b@example.com", "expected exactly one @"),
    ("x@foo..example.com", "its domain has an empty label"),
    ("x@" + "a" * 64 + ".com", "a label over 63 octets"),
    ("x@" + ".".join(["abcdefghij"] * 30), "over 255 octets"),
    ("-X/tmp/x@example.org", "begins with `-`"),
    ("y" * 65 + "@example.com", "over 64 octets"),
]


@pytest.mark.parametrize(("recipient", "says"), BAD)
def test_a_bad_recipient_is_one_line_and_exit_3_on_either_path(tmp_path: Path, recipient: str, says: str) -> None:
    on_line = runner.invoke(app, ["trace", "wa-students-2017", "-m", "postfix", "-r", recipient])
    assert on_line.exit_code == 3 and says in on_line.output and on_line.output.count("\n") == 1
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(recipient=f"'{recipient}'"))
    in_file = runner.invoke(app, ["trace", str(path), "-m", "postfix"])
    assert in_file.exit_code == 3 and says in in_file.output and in_file.output.count("\n") == 1


def test_an_internationalised_domain_is_read_alike_on_either_path(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(recipient="user@münchen.de"))
    in_file = runner.invoke(app, ["trace", str(path), "-m", "postfix", "-q"])
    on_line = runner.invoke(app, ["trace", str(path), "-m", "postfix", "-q", "-r", "user@münchen.de"])
    assert in_file.exit_code == on_line.exit_code == 0
    assert in_file.stdout == on_line.stdout and "mx.xn--mnchen-3ya.de [192.0.2.25]" in in_file.stdout
