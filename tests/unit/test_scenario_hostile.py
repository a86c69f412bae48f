"""Scenario files from other people: confined to their folder, bounded, and never a traceback.

Each hostile file ends in a one-line error with its file and line, exit 3 from the
command line, and quickly: the limits are checked before the work they bound.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mxsim.errors import ExitCode, MxsimError, ScenarioError
from mxsim.scenario import load_scenario, load_scenario_text
from mxsim.scenario.limits import MAX_FILE_BYTES, MAX_NESTING, MAX_RECORDS, MAX_RRSET_RECORDS

ROOT = Path(__file__).resolve().parents[2]
FAST = 5.0  # seconds: generous for a loaded machine; the unbounded work took minutes
SECRET = "root:$6$not-a-real-hash:19000:0:99999:7:::"


def mxsim(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from mxsim.cli import main; main()", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], where: str) -> str:
    assert done.returncode == ExitCode.BAD_INPUT, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"mxsim: error: {where}"), lines[0]
    return lines[0]


def load_error(path: Path) -> ScenarioError:
    started = time.monotonic()
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert time.monotonic() - started < FAST
    assert "\n" not in str(caught.value) and "\r" not in str(caught.value)
    return caught.value


def scenario(tmp_path: Path, text: str, name: str = "world.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def zone_scenario(tmp_path: Path, zone_lines: str, origin: str = "example.org") -> Path:
    body = "".join(f"    {line}\n" for line in zone_lines.splitlines())
    return scenario(tmp_path, f"mxsim: 1\nrecipient: user@{origin}\nzones:\n  {origin}: |\n{body}")


# -- zone files: the scenario's own folder only -------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file beside the scenario's folder, whose first line must never be quoted."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    secret = folder / "shadow"
    secret.write_text(SECRET + "\n")
    (tmp_path / "scenario").mkdir()
    return secret


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_a_zone_file_outside_the_scenario_folder_is_refused_unread(outside: Path, how: str) -> None:
    folder = outside.parent.parent / "scenario"
    if how == "absolute":
        named = str(outside)
    elif how == "dotdot":
        named = "../elsewhere/shadow"
    else:
        (folder / "zones").mkdir()
        (folder / "zones" / "db.example").symlink_to(outside)
        named = "zones/db.example"
    path = scenario(folder, f"mxsim: 1\nzones:\n  example.org:\n    file: {named}\n")
    error = load_error(path)
    assert error.line == 4
    assert "scenario's folder" in str(error)
    assert "root:" not in str(error) and "99999" not in str(error)


def test_a_zone_file_inside_the_folder_is_read_and_its_faulty_line_quoted(tmp_path: Path) -> None:
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "db.example").write_text("$TTL 60\nmx A 192.0.2.25\nmx BOGUS x\n")
    path = scenario(tmp_path, "mxsim: 1\nzones:\n  example.org:\n    file: zones/./db.example\n")
    error = load_error(path)
    assert error.file == str(tmp_path / "zones/db.example") and error.line == 3
    assert "(in `mx BOGUS x`)" in str(error)


def test_a_zone_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.zone").write_text("; padding\n" * (MAX_FILE_BYTES // 10 + 1))
    error = load_error(scenario(tmp_path, "mxsim: 1\nzones:\n  example.org:\n    file: big.zone\n"))
    assert error.line == 4 and "larger than 1 MiB" in str(error)


# -- YAML that used to end in a traceback -------------------------------------------------


def test_deep_nesting_stops_at_the_limit(tmp_path: Path) -> None:
    path = scenario(tmp_path, "mxsim: 1\nname: " + "[" * 500 + "\n")
    line = one_line_error(mxsim("trace", str(path), timeout=30), f"{path}:2: ")
    assert f"more than {MAX_NESTING} levels" in line


@pytest.mark.parametrize(
    ("value", "gist"),
    [
        ("!!python/name:os.system", "unsupported YAML tag `!!python/name:os.system`"),
        ("!!int x", "`x` is not a valid int"),
        ("!!float x", "`x` is not a valid float"),
        ("!!timestamp x", "unsupported YAML tag `!!timestamp`"),
        ("2001-13-45", "`2001-13-45` is not a valid timestamp"),
    ],
)
def test_tagged_and_ill_typed_values_are_one_line_errors(value: str, gist: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(f"mxsim: {value}\n", file="t.yaml")
    assert str(caught.value).startswith("t.yaml:1: ") and gist in str(caught.value), str(caught.value)


def test_a_tag_through_the_command_line_exits_3(tmp_path: Path) -> None:
    path = scenario(tmp_path, "mxsim: !!python/name:os.system\n")
    one_line_error(mxsim("trace", str(path)), f"{path}:1: unsupported YAML tag")


def test_an_unknown_key_is_reported_before_the_rest_of_a_large_file_is_read(tmp_path: Path) -> None:
    keys = "".join(f"k{number:06d}: value number {number}\n" for number in range(36_000))
    path = scenario(tmp_path, "mxsim: 1\nbogus: 1\n" + keys)
    assert MAX_FILE_BYTES * 0.8 < path.stat().st_size < MAX_FILE_BYTES
    started = time.monotonic()
    error = load_error(path)
    assert time.monotonic() - started < 1.0  # building the whole tree took seconds
    assert error.line == 2 and "unknown key `bogus`" in str(error)


def test_a_scenario_over_the_size_limit_is_refused_unparsed(tmp_path: Path) -> None:
    path = scenario(tmp_path, "mxsim: 1\n" + "# padding\n" * (MAX_FILE_BYTES // 10))
    error = load_error(path)
    assert error.line is None and "larger than 1 MiB" in str(error)


# -- records: counted before they are made ------------------------------------------------


@pytest.mark.parametrize("stop", [100_000, 4_294_967_295])
def test_a_generate_range_is_counted_before_it_is_expanded(tmp_path: Path, stop: int) -> None:
    path = zone_scenario(tmp_path, f"$GENERATE 1-{stop} g$ TXT x")
    started = time.monotonic()
    line = one_line_error(mxsim("trace", str(path), timeout=60), f"{path}:5: zone example.org: ")
    assert time.monotonic() - started < FAST + 2  # plus the interpreter's start
    assert f"makes {stop:,} records" in line and f"{MAX_RECORDS:,} records" in line


@pytest.mark.parametrize("count", [3_000, 5_000])
def test_an_rrset_past_the_record_limit_stops_the_reader_at_that_record(tmp_path: Path, count: int) -> None:
    path = zone_scenario(tmp_path, "".join(f"@ MX 10 mx{n}.example.org.\n" for n in range(count)))
    error = load_error(path)
    first_over = 5 + MAX_RRSET_RECORDS  # the zone text starts on line 5
    assert error.line == first_over, str(error)
    assert f"more than {MAX_RRSET_RECORDS:,} MX records for example.org" in str(error)


def test_5000_mx_records_exit_3_from_trace_instead_of_toobig(tmp_path: Path) -> None:
    path = zone_scenario(tmp_path, "".join(f"@ MX 10 mx{n}.example.org.\n" for n in range(5_000)))
    one_line_error(mxsim("trace", str(path), timeout=60), f"{path}:{5 + MAX_RRSET_RECORDS}: ")


def test_an_rrset_that_cannot_fit_in_a_tcp_message_is_refused(tmp_path: Path) -> None:
    # 300 TXT records of 245 octets: under the record limit, over 65535 octets.
    lines = "".join(f'@ TXT "{n:04d}{"x" * 240}"\n' for n in range(300))
    error = load_error(zone_scenario(tmp_path, lines))
    assert error.line == 4
    assert "300 TXT records of example.org take" in str(error) and "65,535" in str(error)


def test_an_rrset_that_fits_in_a_tcp_message_loads(tmp_path: Path) -> None:
    lines = "".join(f'@ TXT "{n:04d}{"x" * 240}"\n' for n in range(250))
    spec = load_scenario(zone_scenario(tmp_path, lines))
    assert len(spec.zones[0].zone.nodes) == 1


def test_the_record_budget_spans_every_zone(tmp_path: Path) -> None:
    zones = "".join(f"  z{n}.org: |\n    $GENERATE 1-3000 h$ A 192.0.2.1\n" for n in range(4))
    error = load_error(scenario(tmp_path, "mxsim: 1\nzones:\n" + zones))
    assert error.line == 10 and "zone z3.org" in str(error) and "9,000 before this text" in str(error)


def test_answer_lines_count_against_the_limits_too(tmp_path: Path) -> None:
    records = "".join(f"            x.example.org. A 10.0.{n // 250}.{n % 250}\n" for n in range(1_200))
    text = (
        "mxsim: 1\nservers:\n  ns1.example.org:\n    address: 192.0.2.53\n    backends:\n"
        "      b:\n        answer:\n          x.example.org: |\n" + records
    )
    error = load_error(scenario(tmp_path, text))
    assert error.line == 9 + MAX_RRSET_RECORDS and "more than 1,000 A records" in str(error)


# -- names the world makes up -------------------------------------------------------------


def test_an_origin_too_long_for_the_made_up_soa_is_a_load_error(tmp_path: Path) -> None:
    origin = ".".join(["a" * 60] * 4)[:243]
    path = zone_scenario(tmp_path, "@ MX 10 mx", origin=origin)
    error = load_error(path)
    assert error.line == 4 and "too long" in str(error) and "hostmaster" in str(error)
    one_line_error(mxsim("trace", str(path)), f"{path}:4: ")


def test_a_long_origin_with_its_own_soa_and_ns_loads(tmp_path: Path) -> None:
    origin = ".".join(["a" * 60] * 4)[:243]
    spec = load_scenario(zone_scenario(
        tmp_path, "@ SOA ns.example. h.example. 1 2 3 4 5\n@ NS ns.example.\n@ MX 10 mx.example.", origin
    ))
    assert len(spec.zones) == 1


# -- recipients and quoted values ---------------------------------------------------------


def test_a_recipient_that_reads_as_an_option_is_refused(tmp_path: Path) -> None:
    error = load_error(scenario(tmp_path, "mxsim: 1\nrecipient: -X/tmp/x@example.org\n"))
    assert error.line == 2 and "begins with `-`" in str(error)


def test_quoted_line_breaks_are_escaped(tmp_path: Path) -> None:
    path = scenario(tmp_path, 'mxsim: 1\nmta: "post\\r\\nfix"\n')
    line = one_line_error(mxsim("trace", str(path)), f"{path}:2: ")
    assert "`post\\r\\nfix`" in line


def test_a_huge_quoted_value_is_cut(tmp_path: Path) -> None:
    error = load_error(scenario(tmp_path, "mxsim: 1\nmta: " + "x" * 100_000 + "\n"))
    assert len(str(error)) < 400 and "(99920 more characters)" in str(error)


def test_every_error_message_is_one_bounded_line() -> None:
    message = str(MxsimError("a\r\nb\x1b[2J\u2028" + "y" * 10_000))
    assert message.isprintable() and len(message) < 1_100
    assert message.startswith("a\\r\\nb\\x1b[2J\\u2028")


# -- root hints ---------------------------------------------------------------------------


def test_root_hints_that_are_not_utf8_exit_3(tmp_path: Path) -> None:
    hints = tmp_path / "root.hints"
    hints.write_bytes(b".  3600000 NS a.root-servers.net.\n\xff\xfe\n")
    line = one_line_error(mxsim("check", "example.org", "--root-hints", str(hints)), "--root-hints ")
    assert "not UTF-8" in line



@pytest.mark.parametrize("server", ["a..b", "a." * 200], ids=["empty-label", "over-255-octets"])
def test_a_pin_naming_no_valid_server_name_exits_3(server: str) -> None:
    line = one_line_error(mxsim("trace", "wa-students-2017", "--pin", f"{server}=x"), "--pin ")
    assert "not a DNS name" in line


@pytest.mark.parametrize("libyaml", [True, False], ids=["libyaml", "pure-python"])
def test_both_yaml_parsers_stop_at_the_same_lines(monkeypatch: pytest.MonkeyPatch, libyaml: bool) -> None:
    import yaml

    monkeypatch.setattr(yaml, "__with_libyaml__", libyaml and yaml.__with_libyaml__)
    cases = {
        "mxsim: 1\nname: " + "[" * 500 + "\n": (2, "levels deep"),
        "mxsim: 1\nbogus: 1\n": (2, "unknown key `bogus`"),
        "mxsim: 1\nhosts:\n  a: {}\n  a: {}\n": (4, "duplicate key `a` (first at line 3"),
        "mxsim: !!int x\n": (1, "not a valid int"),
    }
    for text, (line, gist) in cases.items():
        with pytest.raises(ScenarioError) as caught:
            load_scenario_text(text, file="t.yaml")
        assert caught.value.line == line and gist in str(caught.value), str(caught.value)
