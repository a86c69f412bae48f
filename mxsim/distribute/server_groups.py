"""Domains grouped by the name servers they share, so one server's pacing stays in one place.

Before any domain is checked, each domain's delegation is asked of its parent: the walk
from the root that `check` starts with, paced by `--rate` like the rest, the referrals met
on the way kept for the whole batch (about one query a domain, to its TLD). Domains whose delegations share a server
name or address are joined, transitively, into one group: `ns1.hover.com` serving a
thousand zones puts those thousand zones in one group, and a zone on `ns1.hover.com` and
`ns9.other.net` joins the two farms' groups. A domain whose delegation could not be
measured is a group of its own; its check will say why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mxsim.audit.probes import Delegation, find_delegation
from mxsim.commands.check import domain_name
from mxsim.commands.check_run import CheckConfig, CheckRun, SharedWire, shared_wire

QUERIES_PER_DOMAIN = 20  # budget of the walk for one domain: the root, the TLD, a few lame servers
WAVE = 500  # domains walked side by side (the transport bounds the queries in flight)


def server_groups(base: CheckConfig, domains: Sequence[str], wire: SharedWire | None = None) -> list[list[str]]:
    """The domains in groups sharing name servers; each group, and the groups, in list order."""
    wire = wire or shared_wire(base)
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for start in range(0, len(domains), WAVE):
        wave = domains[start:start + WAVE]
        config = dataclasses.replace(base, budget=QUERIES_PER_DOMAIN * len(wave))
        run = CheckRun(config, None, wire)
        steps = [find_delegation(domain_name(d), list(config.root_hints), run.asking(), run.addresses_of,
                                 run.wire.referrals) for d in wave]
        for domain, delegation in zip(wave, run.run(list(steps)), strict=True):
            assert isinstance(delegation, Delegation)
            own = find(f"domain {domain}")
            if delegation.unknown is None and not delegation.nxdomain:
                for server in (*(f"name {n}" for n in delegation.parent_ns), *(f"address {a}" for _, a in
                                                                               delegation.glue)):
                    parent[find(server)] = own
    groups: dict[str, list[str]] = {}
    for domain in domains:
        groups.setdefault(find(f"domain {domain}"), []).append(domain)
    return list(groups.values())
