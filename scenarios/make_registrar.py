#!/usr/bin/env python3
"""Write a registrar's farm as a scenario: N zones behind two name-server addresses.

    python3 scenarios/make_registrar.py 1000 > registrar.yaml
    mxsim lab up registrar.yaml --state STATE
    mxsim check --domains broken-and-clean.txt --lab STATE -f jsonl

As at Hover in 2017: ns1 and ns2 front one farm of backends, each with its NSID, drawn
per query. One backend (`bad`) answers the apex of a few percent of the zones with a
CNAME chain to a web host that takes no mail, whatever the type asked. Mail hosts are
shared as in life: most zones use one of a handful of providers' MX hosts. The list of
zones the bad backend breaks is written beside the scenario (`--broken FILE`), so a
benchmark can score what a check finds.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

PROVIDERS = (  # (MX host, its address); most zones use the first few
    ("aspmx.l.google.com", "142.250.153.26"),
    ("mx1.mailprovider.net", "198.51.100.25"),
    ("mx.hostedmail.com", "203.0.113.25"),
    ("inbound.smtpcloud.org", "192.0.2.25"),
)
WEB = ("edge.cdn-web.net", "151.101.2.10")  # where the CNAME chain ends: no mail there
BACKENDS = ("farm05", "farm03", "farm07", "farm01")
BAD = "farm01"
SOA = "ns1.farm-dns.com. hostmaster.farm-dns.com. 1 3600 600 86400 900"


def zone_names(count: int) -> list[str]:
    return [f"zone{i:05d}.org" for i in range(count)]


def scenario(count: int, broken_share: float, seed: int) -> tuple[str, list[str]]:
    rng = random.Random(seed)
    names = zone_names(count)
    broken = sorted(rng.sample(names, max(1, round(count * broken_share))))
    out = ["mxsim: 1", f"name: registrar-{count}",
           f"description: A registrar farm of {count} zones; backend {BAD} answers {len(broken)} apexes with a CNAME.",
           f"recipient: postmaster@{names[0]}", "", "zones:"]
    for name in names:
        host, _ = PROVIDERS[min(int(rng.paretovariate(1.5)) - 1, len(PROVIDERS) - 1)]
        out += [f"  {name}: |", "    $TTL 900", f"    @ SOA {SOA}",
                "    @ NS ns1.farm-dns.com.", "    @ NS ns2.farm-dns.com.", f"    @ MX 10 {host}."]
    for host, address in (*PROVIDERS, WEB):
        out += [f"  {host}: |", "    $TTL 300", f"    @ A {address}"]
    out += ["  web-sites.com: |", "    $TTL 300", f"    sites CNAME {WEB[0]}."]
    out += ["", "servers:"]
    for server, address in (("ns1.farm-dns.com", "198.18.0.53"), ("ns2.farm-dns.com", "198.18.1.53")):
        out += [f"  {server}:", f"    address: [{address}]", "    zones: [" + ", ".join(names) + "]",
                "    backends:"]
        for backend in BACKENDS:
            out += [f"      {backend}:", "        weight: 1", f"        nsid: {backend}.farm-dns.com"]
            if backend == BAD:
                out.append("        answer:")
                for name in broken:
                    out += [f"          {name}: |", f"            {name}. 900 CNAME sites.web-sites.com."]
    out += ["", "hosts:"]
    for host, _ in PROVIDERS:
        out += [f"  {host}:", "    smtp: accept", f'    banner: "220 {host} ESMTP"']
    out += [f"  {WEB[0]}:", "    smtp: drop", "  default:", "    smtp: refuse", ""]
    return "\n".join(out), broken


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zones", type=int, help="how many zones the farm serves")
    parser.add_argument("--broken-share", type=float, default=0.03, help="share of zones the bad backend breaks")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--broken", type=Path, help="write the broken zones here, one a line")
    parser.add_argument("--domains", type=Path, help="write every zone here, one a line")
    args = parser.parse_args(argv)
    text, broken = scenario(args.zones, args.broken_share, args.seed)
    sys.stdout.write(text)
    if args.broken is not None:
        args.broken.write_text("".join(f"{n}\n" for n in broken), encoding="utf-8")
    if args.domains is not None:
        args.domains.write_text("".join(f"{n}\n" for n in zone_names(args.zones)), encoding="utf-8")


if __name__ == "__main__":
    main()
