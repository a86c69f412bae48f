"""`mxsim trace` through the real CLI: exit codes, errors, JSON contract, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mxsim.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("scenario", "pin", "code"),
    [
        ("wa-students-2017", "healthy", 0),  # delivered
        ("wa-students-2017", "broken", 1),  # deferred (every MTA times out at Fastly)
        ("nxdomain", None, 2),  # bounced
    ],
)
def test_exit_code_is_the_worst_outcome(scenario: str, pin: str | None, code: int) -> None:
    args = ["trace", scenario] + (["--pin", pin] if pin else [])
    exit_code, _out, _err = run(*args)
    assert exit_code == code


def test_json_has_the_contract_fields_per_mta() -> None:
    exit_code, out, _ = run("trace", "wa-students-2017", "--pin", "broken", "-m", "exim", "-m", "postfix",
                            "--format", "json")
    assert exit_code == 1
    report = json.loads(out)
    assert {k: report[k] for k in ("schema_version", "kind", "scenario", "seed")} == {
        "schema_version": 1, "kind": "trace", "scenario": "wa-students-2017", "seed": 0}
    assert report["pins"] == {"ns1.hover.com": "hover01", "ns2.hover.com": "hover01"}
    objects = report["mtas"]
    assert [o["mta"] for o in objects] == ["exim", "postfix"]
    for obj in objects:
        assert {"mta", "recipient", "envelope_recipient", "dns", "attempts", "outcome", "dsn", "log",
                "delivered_to"} <= set(obj)
        assert all({"qname", "qtype", "rcode", "answer"} <= set(q) for q in obj["dns"])
        assert all({"host", "address", "port", "result"} <= set(a) for a in obj["attempts"])
        assert obj["outcome"] == "deferred" and obj["delivered_to"] is None
        assert obj["verdict"]["owner"] == "edlio.map.fastly.net" and obj["verdict"]["outcome"] == "deferred"
        assert all(isinstance(a["elapsed_s"], float) for a in obj["attempts"])
    exim, postfix = objects
    assert exim["envelope_recipient"] == "student@sites.edlio.com"
    assert postfix["envelope_recipient"] == "student@wa-students.org"
    assert postfix["dsn"] == "4.4.1"
    assert postfix["dns"][0] == {**postfix["dns"][0], "qname": "wa-students.org.", "qtype": "MX", "rcode": "NOERROR"}
    assert {a["result"] for a in postfix["attempts"]} == {"timeout"}


def test_one_mta_gives_the_same_shape_and_delivered_to() -> None:
    exit_code, out, _ = run("trace", "wa-students-2017", "--pin", "healthy", "-m", "postfix", "-f", "json")
    assert exit_code == 0
    (obj,) = json.loads(out)["mtas"]
    assert obj["delivered_to"] == {"host": "aspmx.l.google.com", "address": "142.250.153.26"}


def test_same_seed_same_bytes_other_seed_other_draws() -> None:
    first = run("trace", "wa-students-2017", "--seed", "11", "-f", "json")[1]
    second = run("trace", "wa-students-2017", "--seed", "11", "-f", "json")[1]
    assert first == second
    texts = {run("trace", "wa-students-2017", "--seed", str(seed), "-m", "postfix")[1] for seed in range(8)}
    assert len(texts) > 1  # backends and shuffles are drawn from the seed


def test_text_names_the_backend_behind_the_cname() -> None:
    _code, out, _ = run("trace", "wa-students-2017", "--pin", "broken", "-m", "postfix")
    assert "backend hover01" in out
    assert "nsid hover01.dns.bra.prod.tucows.net" in out
    assert "connect to wa-students.org[151.101.2.10]:25: Connection timed out" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--pin", "nope"], "expected SERVER=BACKEND or the name of a case"),
        (["--pin", "ns1.hover.com=hover99"], "has no backend 'hover99'"),
        (["-m", "postfx"], "did you mean postfix?"),
        (["-m", "postfix", "-o", "smtp_mx_adress_limit=3"], "did you mean smtp_mx_address_limit?"),
        (["-m", "postfix", "-o", "smtp_mx_address_limit=many"], "smtp_mx_address_limit = 'many'"),
        (["-m", "postfix", "-o", "novalue"], "expected NAME=VALUE"),
        (["--recipient", "nobody"], "expected exactly one @, as in USER@DOMAIN"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_3(args: list[str], needle: str) -> None:
    exit_code, out, err = run("trace", "wa-students-2017", *args)
    assert exit_code == 3
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("mxsim: 1\nname: x\nzones:\n  example.org: |\n    @ MX 10\n", "bad.yaml:5: zone example.org"),
        ("mxsim: 1\nzones: [unclosed\n", "bad.yaml:"),
        ("mxsim: 1\nzonez: {}\n", "bad.yaml:2:"),
        ("mxsim: 1\nservers:\n  ns1.example.net:\n    address: 192.0.2.1\n    zones: [example.org]\n",
         "bad.yaml:5:"),
    ],
)
def test_malformed_scenarios_exit_3_with_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    exit_code, _out, err = run("trace", str(path))
    assert exit_code == 3
    assert needle in err.replace(str(tmp_path) + "/", "")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_postfix_main_cf_sets_parameters_and_o_wins(tmp_path: Path) -> None:
    main_cf = tmp_path / "main.cf"
    main_cf.write_text("# lab\nsmtp_mx_address_limit = 2\ninet_protocols =\n  ipv4\nmyhostname = mx.invalid\n")
    _code, out, _ = run("trace", "address-limit", "-m", "postfix", "--mta-config", str(main_cf), "-f", "json")
    (obj,) = json.loads(out)["mtas"]
    assert len(obj["attempts"]) == 2
    assert {q["qtype"] for q in obj["dns"]} == {"MX", "A"}  # inet_protocols = ipv4: no AAAA
    _code, out, _ = run("trace", "address-limit", "-m", "postfix", "--mta-config", str(main_cf),
                        "-o", "smtp_mx_address_limit=3", "-f", "json")
    assert len(json.loads(out)["mtas"][0]["attempts"]) == 3


def test_params_lists_defaults_with_their_sources() -> None:
    exit_code, out, _ = run("params", "postfix")
    assert exit_code == 0
    limit = out.splitlines().index("  smtp_mx_address_limit = 5")
    assert "mail_params.h" in out.splitlines()[limit + 1]  # the upstream file its default comes from


def test_the_verdict_comes_first_naming_the_host_behind_the_cname_chain() -> None:
    exit_code, out, _ = run("trace", "wa-students-2017", "--pin", "broken", "-m", "postfix", "-m", "exim")
    assert exit_code == 1
    first, second, blank = out.splitlines()[:3]
    assert first.split()[:3] == ["postfix", "DEFERRED", "4.4.1"]
    assert "times out at edlio.map.fastly.net [151.101." in first
    assert first.endswith("(looked up as wa-students.org via a CNAME chain)")
    assert second.startswith("exim") and blank == ""


def test_quiet_prints_the_verdict_lines_only() -> None:
    exit_code, out, _ = run("trace", "wa-students-2017", "--pin", "healthy", "--quiet")
    assert exit_code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["postfix", "exim", "opensmtpd", "sendmail", "rfc5321"]
    assert all(" DELIVERED " in line and line.endswith("aspmx.l.google.com [142.250.153.26]") for line in lines)


def test_scenarios_lists_one_short_line_each_and_shows_one_whole() -> None:
    from mxsim.scenario import bundled_scenarios

    exit_code, out, _ = run("scenarios")
    assert exit_code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == bundled_scenarios()
    assert all(len(line[27:]) <= 100 for line in lines)
    exit_code, out, _ = run("scenarios", "nxdomain")
    assert exit_code == 0 and out.startswith("nxdomain\n\nThe recipient's domain does not exist.")
    exit_code, _out, err = run("scenarios", "wa-student-2017")
    assert exit_code == 3 and "did you mean `wa-students-2017`?" in err


def test_the_bundled_files_replay_by_path_from_a_clone() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    files = sorted(str(p) for p in (root / "scenarios").glob("wa-students-*.yaml"))
    assert len(files) == 3
    exit_code, out, _ = run("replay", *files, "-n", "5", "-m", "postfix", "--no-progress", "--quiet")
    assert exit_code in (0, 1) and len(out.splitlines()) == 3
