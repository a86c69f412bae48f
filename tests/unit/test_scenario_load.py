"""The scenario loader on real YAML: values that come out, and errors that point at a line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from mxsim.errors import ScenarioError
from mxsim.scenario import (
    AuthorityMode,
    ScenarioSpec,
    ServerChoice,
    SmtpKind,
    TlsMode,
    TtlMode,
    bundled_scenarios,
    load_scenario,
    load_scenario_text,
)

FILE = "test.yaml"

FULL = """\
mxsim: 1
name: wa-students-2017
description: >
  Free text.
recipient: student@wa-students.org

expect:
  deliver_to:
    - "*.google.com"
    - "*.googlemail.com"
  min_success: 0.99
  max_delay: 1h

zones:
  wa-students.org: |
    $TTL 900
    @   SOA ns1.hover.com. dnsadmin.hover.com. 2017082901 10800 3600 604800 900
    @   NS  ns1.hover.com.
    @   NS  ns2.hover.com.
    @   MX  1 aspmx.l.google.com.
    @   TXT "v=spf1 include:_spf.google.com ~all"
  fastly.net: |
    edlio.map  A 151.101.2.10
  example.net:
    file: zones/example.net.zone

servers:
  ns1.hover.com:
    address: [216.40.47.26, "2001:db8::26"]
    zones: [wa-students.org]
    backends:
      hover05:
        weight: 3
        nsid: hover05.dns.bra.prod.tucows.net
      hover01:
        weight: 1
        nsid: hover01.dns.bra.prod.tucows.net
        answer:
          wa-students.org: |
            wa-students.org.         900 CNAME www.westlakeacademy.org.
            www.westlakeacademy.org. 900 CNAME westlakeacademy.sites.edlio.com.
        aa: {rd: false, nord: true}
        authority: root-referral
        ttl: countdown
      broken:
        rcode: servfail
        drop: 0.25
        delay: 200ms
        tcp: false
        edns: false
        aa: false
  ns2.hover.com:
    address: 216.40.55.26
    zones: wa-students.org
    nsid: ns2

hosts:
  default:
    smtp: refuse
  "*.google.com":
    smtp: accept
    banner: "220 mx.google.com ESMTP"
    tls: handshake
  edlio.map.fastly.net:
    smtp: drop
  192.0.2.7:
    smtp: reject
  192.0.2.8:
    smtp: tempfail
    code: 451
    text: "4.3.0 try later"
  slow.example.net:
    smtp: slow
    delay: 2m
    starttls: false

resolver:
  cache: false
  server_choice: srtt

mta: [postfix, exim, opensmtpd, sendmail, rfc5321]

cases:
  healthy:
    description: every query answered by hover05
    pin:
      ns1.hover.com: hover05
  broken:
    pin:
      ns1.hover.com: hover01
"""

EXAMPLE_NET_ZONE = """\
$TTL 300
@    NS  ns1.hover.com.
www  A   192.0.2.80
"""


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the `occurrence`-th `needle`."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} is not in the text")


def load_error(text: str, base_dir: Path | None = None) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, file=FILE, base_dir=base_dir)
    error = caught.value
    assert "\n" not in str(error), "an error message is one line"
    return error


def assert_error(text: str, needle: str, *gist: str, occurrence: int = 1) -> ScenarioError:
    error = load_error(text)
    assert str(error).startswith(f"{FILE}:{line_of(text, needle, occurrence)}: "), str(error)
    for part in gist:
        assert part in str(error), str(error)
    return error


def minimal(body: str) -> str:
    return "mxsim: 1\n" + textwrap.dedent(body)


@pytest.fixture
def full(tmp_path: Path) -> ScenarioSpec:
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "example.net.zone").write_text(EXAMPLE_NET_ZONE)
    return load_scenario_text(FULL, file=FILE, base_dir=tmp_path)


def name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


# -- a full, valid scenario ---------------------------------------------------------------


def test_top_level_values(full: ScenarioSpec) -> None:
    assert full.name == "wa-students-2017"
    assert full.source == FILE
    assert full.version == 1
    assert full.description == "Free text."
    assert full.recipient == "student@wa-students.org"
    assert full.expect.deliver_to == ("*.google.com", "*.googlemail.com")
    assert full.expect.min_success == 0.99
    assert full.expect.max_delay == 3600.0
    assert full.resolver.cache is False
    assert full.resolver.server_choice is ServerChoice.SRTT
    assert full.mta == ("postfix", "exim", "opensmtpd", "sendmail", "rfc5321")
    assert full.lines["zones"] == line_of(FULL, "zones:")
    assert full.lines["cases"] == line_of(FULL, "cases:")


def test_zones(full: ScenarioSpec, tmp_path: Path) -> None:
    assert [zone.origin for zone in full.zones] == [
        name("wa-students.org"),
        name("fastly.net"),
        name("example.net"),
    ]
    students = full.zone(name("wa-students.org"))
    assert students is not None
    assert students.line == line_of(FULL, "wa-students.org: |")
    mx = students.zone.get_rdataset(name("wa-students.org"), dns.rdatatype.MX)
    assert mx is not None and mx.ttl == 900
    fastly = full.zone(name("fastly.net"))
    assert fastly is not None
    # no $TTL, no SOA: the zone is read with the default TTL of 900
    edlio = fastly.zone.get_rdataset(name("edlio.map.fastly.net"), dns.rdatatype.A)
    assert edlio is not None and edlio.ttl == 900
    example = full.zone(name("example.net"))
    assert example is not None
    assert example.file == str(tmp_path / "zones" / "example.net.zone")
    www = example.zone.get_rdataset(name("www.example.net"), dns.rdatatype.A)
    assert www is not None and www.ttl == 300


def test_servers_and_backends(full: ScenarioSpec) -> None:
    ns1 = full.server(name("ns1.hover.com"))
    assert ns1 is not None
    assert ns1.addresses == ("216.40.47.26", "2001:db8::26")
    assert ns1.zones == (name("wa-students.org"),)
    assert [backend.name for backend in ns1.backends] == ["hover05", "hover01", "broken"]
    hover05, hover01, broken = ns1.backends
    assert hover05.weight == 3.0 and hover05.nsid == "hover05.dns.bra.prod.tucows.net"
    assert hover05.answer == () and hover05.authority is AuthorityMode.NORMAL
    assert hover01.aa.rd is False and hover01.aa.nord is True
    assert hover01.authority is AuthorityMode.ROOT_REFERRAL
    assert hover01.ttl is TtlMode.COUNTDOWN
    rrsets = hover01.answer_for(name("wa-students.org"))
    assert rrsets is not None
    assert [(rrset.name, rrset.rdtype, rrset.ttl) for rrset in rrsets] == [
        (name("wa-students.org"), dns.rdatatype.CNAME, 900),
        (name("www.westlakeacademy.org"), dns.rdatatype.CNAME, 900),
    ]
    assert broken.rcode == dns.rcode.SERVFAIL
    assert (broken.drop, broken.delay, broken.tcp, broken.edns) == (0.25, 0.2, False, False)
    assert broken.aa.rd is False and broken.aa.nord is False
    ns2 = full.server(name("ns2.hover.com"))
    assert ns2 is not None
    assert ns2.addresses == ("216.40.55.26",) and ns2.nsid == "ns2" and ns2.backends == ()


def test_hosts_in_file_order_with_default_last(full: ScenarioSpec) -> None:
    assert [host.key for host in full.hosts] == [
        "*.google.com",
        "edlio.map.fastly.net",
        "192.0.2.7",
        "192.0.2.8",
        "slow.example.net",
        "default",
    ]
    google, fastly, rejecting, tempfailing, slow, default = full.hosts
    assert google.smtp is SmtpKind.ACCEPT and google.banner == "220 mx.google.com ESMTP"
    assert google.starttls and google.tls is TlsMode.HANDSHAKE and fastly.tls is TlsMode.REFUSE
    assert fastly.smtp is SmtpKind.DROP
    assert rejecting.smtp is SmtpKind.REJECT and rejecting.code == 554
    assert tempfailing.code == 451 and tempfailing.text == "4.3.0 try later"
    assert slow.delay == 120.0 and slow.starttls is False
    assert default.smtp is SmtpKind.REFUSE
    assert default.line == line_of(FULL, "default:")


def test_cases(full: ScenarioSpec) -> None:
    healthy = full.case("healthy")
    assert healthy is not None
    assert healthy.description == "every query answered by hover05"
    assert healthy.pins == ((name("ns1.hover.com"), "hover05"),)
    broken = full.case("broken")
    assert broken is not None and broken.pins == ((name("ns1.hover.com"), "hover01"),)


def test_defaults_and_name_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny-world.yaml"
    path.write_text("mxsim: 1\nmta: exim\n")
    spec = load_scenario(path)
    assert spec.name == "tiny-world"
    assert spec.source == str(path)
    assert spec.mta == ("exim",)
    assert spec.zones == () and spec.servers == () and spec.hosts == ()
    assert spec.resolver.server_choice is ServerChoice.RANDOM


def test_answer_line_without_ttl_gets_900() -> None:
    spec = load_scenario_text(
        minimal(
            """\
            servers:
              ns.example.net:
                address: 192.0.2.53
                backends:
                  liar:
                    answer:
                      example.org: |
                        example.org. CNAME www.example.com.
            """
        )
    )
    [server] = spec.servers
    rrsets = server.backends[0].answer_for(name("example.org"))
    assert rrsets is not None and rrsets[0].ttl == 900


def test_zone_file_path_is_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "db.example").write_text("$TTL 60\nmx A 192.0.2.25\n")
    scenario = tmp_path / "world.yaml"
    scenario.write_text("mxsim: 1\nzones:\n  example.com:\n    file: sub/db.example\n")
    spec = load_scenario(str(scenario))
    [zone] = spec.zones
    assert zone.file == str(tmp_path / "sub" / "db.example")
    assert zone.zone.get_rdataset(name("mx.example.com"), dns.rdatatype.A) is not None


# -- bundled scenarios --------------------------------------------------------------------


@pytest.mark.parametrize("bundled", bundled_scenarios())
def test_every_bundled_scenario_loads(bundled: str) -> None:
    spec = load_scenario(bundled)
    assert spec.name == bundled


def test_bundled_scenario_by_name() -> None:
    assert "wa-students-2017" in bundled_scenarios()
    spec = load_scenario("wa-students-2017")
    assert spec.source.endswith("wa-students-2017.yaml")
    assert spec.case("broken") is not None


def test_unknown_bundled_name() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario("wa-students-2071")
    assert "no bundled scenario named `wa-students-2071`" in str(caught.value)
    assert "did you mean `wa-students-2017`?" in str(caught.value)


def test_missing_scenario_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(missing)
    assert str(caught.value) == f"{missing}: no such scenario file"


# -- errors: each names the file and the line ---------------------------------------------


def test_bad_yaml() -> None:
    text = "mxsim: 1\nzones:\n  example.org: [a\nservers: {}\n"
    assert_error(text, "servers:", "YAML syntax error", "flow sequence")


def test_empty_file() -> None:
    assert str(load_error("")) == f"{FILE}:1: the file is empty; a scenario starts with `mxsim: 1`"


def test_missing_version() -> None:
    assert_error("name: x\n", "name: x", "missing `mxsim: 1`")


def test_unsupported_version() -> None:
    assert_error("mxsim: 2\n", "mxsim: 2", "version 2 is not supported", "supported versions: 1")


def test_duplicate_key_names_both_lines() -> None:
    text = minimal(
        """\
        hosts:
          mx.example.org:
            smtp: accept
          mx.example.org:
            smtp: drop
        """
    )
    first = line_of(text, "mx.example.org:")
    assert_error(
        text,
        "mx.example.org:",
        f"duplicate key `mx.example.org` (first at line {first}, again at line {first + 2})",
        occurrence=2,
    )


def test_an_unknown_tls_mode_names_the_choices() -> None:
    text = minimal("""\
        zones:
          example.org: |
            @ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300
            @ 3600 IN NS ns1
            @ 3600 IN MX 10 mx
            ns1 3600 IN A 192.0.2.1
            mx 3600 IN A 192.0.2.25
        hosts:
          mx.example.org:
            smtp: accept
            tls: yes-please
        """)
    assert_error(text, "tls: yes-please", "tls mode", "yes-please", "refuse", "handshake")


def test_unknown_top_level_key() -> None:
    text = minimal("recipent: user@example.org\n")
    assert_error(
        text, "recipent", "unknown key `recipent` in the scenario; did you mean `recipient`?"
    )


def test_unknown_nested_key() -> None:
    text = minimal(
        """\
        servers:
          ns1.example.net:
            address: 192.0.2.53
            backends:
              b1:
                wieght: 2
        """
    )
    assert_error(
        text,
        "wieght",
        "unknown key `wieght` in backend b1 of server ns1.example.net; did you mean `weight`?",
    )


def test_unknown_key_without_a_close_match_lists_the_keys() -> None:
    text = minimal("resolver:\n  zzz: 1\n")
    assert_error(text, "zzz", "expected one of: cache, population, server_choice, warm")


def test_bad_zone_line_in_a_block() -> None:
    text = minimal(
        """\
        zones:
          example.org: |
            $TTL 300
            @    MX  10 mx.example.org.
            mx   A   192.0.2.300
            www  A   192.0.2.80
        """
    )
    assert_error(text, "192.0.2.300", "zone example.org:", "malformed")


def test_bad_zone_line_on_the_last_line() -> None:
    text = minimal("zones:\n  example.org: |\n    $TTL 300\n    @ MX 10\n")
    assert_error(text, "@ MX 10", "zone example.org:")


def test_bad_zone_line_in_a_zone_without_ttl() -> None:
    # read again with `$TTL 900` in front; the line must still be the scenario's
    text = minimal(
        "zones:\n  example.org: |\n    www A 192.0.2.80\n    mx A 192.0.2\n    a A 192.0.2.1\n"
    )
    assert_error(text, "mx A 192.0.2", "zone example.org:", "(in `mx A 192.0.2`)")


def test_bad_zone_line_in_a_zone_file(tmp_path: Path) -> None:
    zone_file = tmp_path / "example.zone"
    zone_file.write_text("$TTL 300\n@ MX 10 mx\nmx BOGUS 1\nwww A 192.0.2.80\n")
    text = minimal("zones:\n  example.org:\n    file: example.zone\n")
    error = load_error(text, base_dir=tmp_path)
    assert str(error).startswith(f"{zone_file}:3: zone example.org: unknown rdatatype"), str(error)


def test_zone_file_missing(tmp_path: Path) -> None:
    text = minimal("zones:\n  example.org:\n    file: zones/absent.zone\n")
    error = load_error(text, base_dir=tmp_path)
    assert error.line == line_of(text, "file:")
    assert str(error) == (
        f"{FILE}:{error.line}: zone example.org: zone file "
        f"{tmp_path / 'zones' / 'absent.zone'} does not exist"
    )


def test_server_serving_an_undefined_zone() -> None:
    text = minimal(
        """\
        zones:
          example.net: |
            @ 300 MX 10 mx
        servers:
          ns1.hover.com:
            address: 216.40.47.26
            zones:
              - example.org
        """
    )
    assert_error(
        text,
        "- example.org",
        "server ns1.hover.com serves zone example.org, which `zones` does not define; "
        "did you mean `example.net`?",
    )


def test_bad_address() -> None:
    text = minimal(
        """\
        servers:
          ns1.example.net:
            address:
              - 192.0.2.53
              - 192.0.2.530
        """
    )
    assert_error(text, "192.0.2.530", "`192.0.2.530` is not an IPv4 or IPv6 address")


def test_address_of_the_wrong_shape() -> None:
    text = minimal("servers:\n  ns1.example.net:\n    address: {v4: 192.0.2.1}\n")
    assert_error(text, "v4", "expected a list of addresses, got a mapping")


def test_bad_duration() -> None:
    text = minimal("expect:\n  max_delay: 5 minutes\n")
    assert_error(text, "max_delay", "expected a duration such as 30s, 5m, 2h, 4d or 1h30m")


def test_bad_probability() -> None:
    text = minimal("expect:\n  min_success: 1.5\n")
    assert_error(text, "min_success", "expected a probability between 0 and 1")


def test_unknown_smtp_kind() -> None:
    text = minimal("hosts:\n  default:\n    smtp: bounce\n")
    assert_error(
        text,
        "smtp: bounce",
        "unknown smtp kind `bounce`; expected one of: accept, drop, refuse, tarpit, reject, "
        "tempfail, slow",
    )


def test_reject_needs_a_5xx_code() -> None:
    text = minimal("hosts:\n  default:\n    smtp: reject\n    code: 421\n")
    assert_error(text, "code: 421", "smtp: reject needs a 5xx reply code")


def test_bad_rcode() -> None:
    text = minimal(
        """\
        servers:
          ns1.example.net:
            address: 192.0.2.53
            backends:
              b1:
                rcode: SERVFIAL
        """
    )
    assert_error(text, "SERVFIAL", "unknown rcode `SERVFIAL`; did you mean `SERVFAIL`?")


def test_bad_answer_line() -> None:
    text = minimal(
        """\
        servers:
          ns1.example.net:
            address: 192.0.2.53
            backends:
              b1:
                answer:
                  example.org: |
                    example.org. 300 CNAME www.example.org.
                    www.example.org. 300 A 192.0.2
                    www.example.org. 300 AAAA 2001:db8::1
        """
    )
    assert_error(text, "A 192.0.2", "answer for example.org:", "malformed")


def test_unknown_pin_backend() -> None:
    text = minimal(
        """\
        servers:
          ns1.example.net:
            address: 192.0.2.53
            backends:
              hover01: {}
              hover05: {}
        cases:
          broken:
            pin:
              ns1.example.net: hover02
        """
    )
    assert_error(
        text,
        "hover02",
        "case broken: server ns1.example.net has no backend `hover02`; did you mean",
    )


def test_pin_of_an_unknown_server() -> None:
    text = minimal(
        """\
        servers:
          ns1.example.net:
            address: 192.0.2.53
        cases:
          broken:
            pin:
              ns9.example.net: b1
        """
    )
    assert_error(text, "ns9.example.net", "which `servers` does not define")


def test_wrong_type_says_what_was_expected() -> None:
    text = minimal("resolver:\n  cache: maybe\n")
    assert_error(text, "cache: maybe", "expected true or false for `cache`, got 'maybe'")


def test_a_tarpit_may_close_after_a_delay() -> None:
    spec = load_scenario_text(minimal("hosts:\n  default:\n    smtp: tarpit\n    delay: 3s\n"), file=FILE)
    (host,) = spec.hosts
    assert (host.smtp, host.delay) == (SmtpKind.TARPIT, 3.0)
    plain = load_scenario_text(minimal("hosts:\n  default:\n    smtp: tarpit\n"), file=FILE)
    assert plain.hosts[0].delay == 0.0  # never closes


def test_delay_is_refused_where_it_means_nothing() -> None:
    text = minimal("hosts:\n  default:\n    smtp: refuse\n    delay: 3s\n")
    assert_error(text, "delay: 3s", "`delay` applies to smtp: slow and smtp: tarpit, not to smtp: refuse")
