"""The hostile inputs a first campaign found, kept: each runs in the tests and first in every campaign.

A small scenario (one zone with an MX) is changed in one place per input; `check` inputs
are a domain and options, or a root hints file, as in `jobs.draw_check`.
"""

from __future__ import annotations

from tests.reliability.jobs import Job, encode, scenario_job
from tests.reliability.mutations import OUTSIDE, Mutant
from tests.reliability.values import LABEL63

BASE = """mxsim: 1
name: {name}
recipient: user@example.com
zones:
  {origin}: |
{zone}
hosts:
  default:
    smtp: accept
mta: [postfix]
"""
ZONE = "$TTL 3600\n@ MX 10 mx.example.com.\nmx A 192.0.2.25"


def _scenario(name: str = "plain", origin: str = "example.com", zone: str = ZONE, top: str = "",
              extra: dict[str, bytes] | None = None) -> Job:
    indented = "\n".join("    " + line for line in zone.splitlines())
    text = top + BASE.format(name=name, origin=origin, zone=indented)
    return scenario_job(Mutant("known", [name], text.encode("utf-8", "surrogateescape"), extra or {}))


def _raw(text: bytes) -> Job:
    return scenario_job(Mutant("known", ["raw"], text))


_243 = ".".join(["c" * 63] * 3) + "." + "c" * 50 + ".example.com"  # 243 characters with the dots

KNOWN_SCENARIOS: dict[str, Job] = {
    "plain (the base: must run)": _scenario(),
    "deep nesting: 500 open brackets": _raw(b"mxsim: 1\nname: " + b"[" * 500 + b"\n"),
    "tag !!python/name": _raw(b"mxsim: !!python/name:os.system ''\n"),
    "tag !!int on a word": _raw(b"mxsim: !!int x\n"),
    "tag !!float on a word": _raw(b"mxsim: !!float x\n"),
    "tag !!timestamp on a word": _raw(b"mxsim: !!timestamp x\n"),
    "zone origin of 243 characters": _scenario(origin=_243[-243:]),
    "zone origin with a 64-character label": _scenario(origin=LABEL63 + "a.example.com"),
    "5,000 MX records": _scenario(zone="$TTL 3600\n" + "\n".join(f"@ MX {i} m{i}.example.com." for i in range(5000))),
    "$GENERATE 0-4294967295": _scenario(zone="$TTL 3600\n$GENERATE 0-4294967295 g$ TXT x"),
    "$GENERATE 1-100000": _scenario(zone="$TTL 3600\n$GENERATE 1-100000 g$ TXT x"),
    "an unknown key after 200,000 keys": _raw(b"mxsim: 1\nnmae: x\n" + b"".join(b"k%d: v\n" % i
                                                                                for i in range(200_000))),
    "a name with CR LF": _scenario(name='"a\\r\\nb"'),
    "a name of 100,000 characters": _scenario(name="n" * 100_000),
    "non-UTF-8 byte in the scenario": _raw(b"mxsim: 1\nname: a\xffb\n"),
}


def _with_file(target: str, content: bytes = b"") -> Job:
    text = BASE.replace("  {origin}: |\n{zone}", "  example.com:\n    file: {file}").format(
        name="file", file=target).encode()
    return scenario_job(Mutant("known", [f"file {target}"], text, {"zone.txt": content} if content else {}))


KNOWN_SCENARIOS["a zone file outside the folder"] = _with_file(OUTSIDE)
KNOWN_SCENARIOS["a zone file given as /proc/self/environ"] = _with_file("/proc/self/environ")
KNOWN_SCENARIOS["a zone file with a non-UTF-8 byte"] = _with_file("zone.txt", b"$TTL 3600\n@ MX 10 mx\xff.\n")
KNOWN_SCENARIOS["a zone file name with a NUL byte"] = _with_file('"zone.txt\\0x"', b"$TTL 3600\n@ MX 10 mx\n")
KNOWN_SCENARIOS["a zone file name of 100,000 characters"] = _with_file("a" * 100_000)
KNOWN_SCENARIOS["an SOA below the zone's origin"] = _scenario(zone=ZONE + "\nsub SOA ns hostmaster 1 2 3 4 5")

_HINTS = b". 3600 NS a.root.\na.root. 3600 A 127.0.0.1\n"

KNOWN_CHECKS: dict[str, Job] = {
    "a root hints file with a non-UTF-8 byte": {"kind": "check", "argv": ["example.org"],
                                                "root_hints": encode(_HINTS.replace(b"a.root.\n", b"a\xff.root.\n"))},
    "a domain of 255 characters": {"kind": "check", "argv": [".".join(["d" * 63] * 4)]},
    "a domain with CR LF": {"kind": "check", "argv": ["a\r\nb.example"]},
    "--dns-timeout inf": {"kind": "check", "argv": ["example.org", "--dns-timeout", "inf"]},
    "--samples 0": {"kind": "check", "argv": ["example.org", "--samples", "0"]},
    "a domain with a 5000-character label": {"kind": "check", "argv": ["a" * 5000]},
    # Read record by record, one set of 20,000 NS records took minutes.
    "a root hints file of 20000 root servers": {"kind": "check", "argv": ["example.org"], "root_hints": encode(
        b"".join(b". 3600 NS r%d.root.\nr%d.root. 3600 A 127.0.0.1\n" % (i, i) for i in range(20000)))},
}
