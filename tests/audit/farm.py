"""A small registrar farm for batch tests: zones behind name-server addresses that front
weighted backends with NSIDs; one backend may answer some apexes with a CNAME to a web
host (as in 2017). Mail hosts are shared by the zones, as in life."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mxsim.scenario import load_scenario_text
from mxsim.scenario.spec import ScenarioSpec

MX_HOSTS = (("mx.shared-mail.net", "198.51.100.25"), ("mx.other-mail.net", "203.0.113.25"))
WEB = ("edge.web-host.net", "151.101.2.10")
SOA = "ns1.farm.example. hostmaster.farm.example. 1 3600 600 86400 900"
SERVERS = (("ns1.farm.example", "198.18.0.53"), ("ns2.farm.example", "198.18.1.53"))


def zone_names(count: int) -> list[str]:
    return [f"zone{i:03d}.org" for i in range(count)]


def farm(zones: Sequence[str], backends: dict[str, int], *, bad: str | None = None, broken: Iterable[str] = (),
         servers: int = 2) -> ScenarioSpec:
    """`backends`: name -> weight; `bad` answers each apex in `broken` with a CNAME to the web host."""
    broken = list(broken)
    out = ["mxsim: 1", "name: test-farm", f"recipient: postmaster@{zones[0]}", "zones:"]
    for index, name in enumerate(zones):
        host = MX_HOSTS[index % len(MX_HOSTS)][0]
        out += [f"  {name}: |", "    $TTL 900", f"    @ SOA {SOA}"]
        out += [f"    @ NS {server}." for server, _ in SERVERS[:servers]]
        out += [f"    @ MX 10 {host}."]
    for host, address in (*MX_HOSTS, WEB):
        out += [f"  {host}: |", "    $TTL 300", f"    @ A {address}"]
    out += ["  web-sites.com: |", "    $TTL 300", f"    sites CNAME {WEB[0]}.", "servers:"]
    for server, address in SERVERS[:servers]:
        out += [f"  {server}:", f"    address: [{address}]", "    zones: [" + ", ".join(zones) + "]", "    backends:"]
        for backend, weight in backends.items():
            out += [f"      {backend}:", f"        weight: {weight}", f"        nsid: {backend}.farm.example"]
            if backend == bad and broken:
                out.append("        answer:")
                for name in broken:
                    out += [f"          {name}: |", f"            {name}. 900 CNAME sites.web-sites.com."]
    out += ["hosts:"]
    out += [f"  {host}:\n    smtp: accept" for host, _ in MX_HOSTS]
    out += [f"  {WEB[0]}:", "    smtp: drop", "  default:", "    smtp: refuse", ""]
    return load_scenario_text("\n".join(out), "farm.yaml")
