"""The lab under real software: dig, Debian's unbound, a network namespace, dropped privileges.

Each test FAILS (never skips) when root, unbound, dig, ip or iptables is missing: CI
installs them (.ci/run).
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from mxsim.commands.trace import TraceConfig, run_trace
from mxsim.commands.trace_wire import WireTraceConfig, run_wire_trace
from mxsim.lab import netns, process
from mxsim.lab.runner import lab_down, lab_endpoint, lab_status, restart_resolver
from mxsim.mta.results import Delivery
from mxsim.scenario import load_scenario
from tests.lab.tools import lab, require_root, require_tool, up

pytestmark = pytest.mark.lab

NS1 = "216.40.47.26"
SPEC = load_scenario("wa-students-2017")
FARM = {b.name: b for b in SPEC.servers[0].backends}
ROOT = str(Path(__file__).resolve().parents[2])


def _dig_batch(tmp_path: Path, lines: list[str]) -> list[str]:
    """Run dig once over a batch file; one output block per query."""
    dig = require_tool("dig", "bind9-dnsutils")
    batch = tmp_path / "queries.txt"
    batch.write_text("\n".join(lines) + "\n")
    done = subprocess.run([dig, "-f", str(batch)], capture_output=True, text=True, timeout=120, check=True)
    blocks = done.stdout.split("; <<>> DiG")[1:]
    assert len(blocks) == len(lines), done.stdout[-2000:]
    return blocks


def test_dig_sees_the_farm(tmp_path: Path) -> None:
    """200 queries to ns1: CNAME share within binomial error of hover01's weight; NSIDs; AA by RD."""
    with lab("wa-students-2017", tmp_path / "lab") as info:
        ns1 = info.address_map.lab(NS1)
        where = f"@{ns1} -p {info.dns_port} +tries=1 +time=2"
        n = 200
        blocks = _dig_batch(tmp_path, [f"{where} +nsid wa-students.org MX"] * n)
        cnames = sum(bool(re.search(r"^wa-students\.org\.\s+\d+\s+IN\s+CNAME", b, re.M)) for b in blocks)
        share = FARM["hover01"].weight / sum(b.weight for b in FARM.values())
        error = math.sqrt(share * (1 - share) / n)
        assert abs(cnames / n - share) <= 3 * error, (cnames, n, share)
        nsids = {m.group(1) for b in blocks for m in [re.search(r'NSID: .*\("([^"]+)"\)', b)] if m}
        assert nsids == {b.nsid for b in FARM.values()}
    with lab("wa-students-2017", tmp_path / "lab", pins=["broken"]) as info:
        where = f"@{info.address_map.lab(NS1)} -p {info.dns_port} +tries=1 +time=2 wa-students.org MX"
        rd, norec = _dig_batch(tmp_path, [where, f"{where} +norec"])
        flags = [re.search(r";; flags: ([a-z ]+);", b).group(1).split() for b in (rd, norec)]  # type: ignore[union-attr]
        assert "aa" not in flags[0] and "aa" in flags[1]  # hover01: AA only without RD
    with lab("wa-students-2017", tmp_path / "lab", pins=["healthy"]) as info:
        where = f"@{info.address_map.lab(NS1)} -p {info.dns_port} +tries=1 +time=2 wa-students.org MX"
        rd, norec = _dig_batch(tmp_path, [where, f"{where} +norec"])
        assert all(" aa" in re.search(r";; flags: ([a-z ]+);", b).group(0) for b in (rd, norec))  # type: ignore[union-attr]


def test_unbound_hands_out_the_chain_to_fastly_with_no_mx(tmp_path: Path) -> None:
    require_root("unbound on port 53")
    require_tool("unbound", "unbound")
    state = tmp_path / "lab"
    with lab("wa-students-2017", state, pins=["broken"], dns_port=53, resolver="unbound") as info:
        assert info.resolver is not None
        address, port = info.resolver
        response = dns.query.udp(dns.message.make_query("wa-students.org", "MX"), address, port=port, timeout=5)
        chain = [(r.name.to_text(), r[0].target.to_text()) for r in response.answer if r.rdtype == dns.rdatatype.CNAME]
        assert chain[0][0] == "wa-students.org." and chain[-1][1] == "edlio.map.fastly.net."
        assert not any(r.rdtype == dns.rdatatype.MX for r in response.answer)
        assert "wa-students.org. MX" in (state / "unbound.log").read_text()  # log-queries
        # The MTA's stub over unbound, side by side with the model (unbound restarted per MTA).
        spec = load_scenario("wa-students-2017")
        config = TraceConfig(spec, mtas=("postfix", "opensmtpd"), pins=("broken",))
        wire = run_wire_trace(WireTraceConfig(
            config, lab_endpoint(state), 0.02, restart_resolver=lambda: restart_resolver(state)))
        model = run_trace(config)
        for got, want in zip(wire.deliveries, model.deliveries, strict=True):
            assert (got.outcome, got.dsn, got.route.kind) == (want.outcome, want.dsn, want.route.kind), got.mta
            assert _asked(got) == _asked(want), got.mta
        resolver = lab_status(state).state["resolver"]  # type: ignore[index]
    assert not process.alive(int(resolver["pid"]))


def _asked(delivery: Delivery) -> tuple[list[tuple[str, str]], list[str]]:
    """The questions in order, the reverse lookups as a set: unbound hands out one host's
    addresses in varying order, and OpenSMTPD asks each one's PTR as it connects to it."""
    forward = [(a.qname.to_text(), dns.rdatatype.to_text(a.qtype)) for a in delivery.dns
               if a.qtype != dns.rdatatype.PTR]
    return forward, sorted(a.qname.to_text() for a in delivery.dns if a.qtype == dns.rdatatype.PTR)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-c", "from mxsim.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_netns_lab_serves_real_addresses_and_drops_with_iptables(tmp_path: Path) -> None:
    require_root("a network namespace")
    require_tool("ip", "iproute2")
    require_tool("iptables", "iptables")
    require_tool("unbound", "unbound")
    name = f"mxsim-t{os.getpid() % 100000}"
    state = tmp_path / "lab"
    up = _cli("lab", "up", "wa-students-2017", "--state", str(state), "--pin", "broken", "--netns", name,
              "--resolver", "unbound", "--smtp-port", "25")
    try:
        assert up.returncode == 0, up.stderr
        assert "resolver: unbound at 127.54.0.1" in up.stdout and "iptables" in up.stdout
        assert netns.exists(name) and Path(f"/etc/netns/{name}/resolv.conf").exists()
        # Inside, the real address of ns1 answers; the host itself never sees it.
        dig = require_tool("dig", "bind9-dnsutils")
        inside = subprocess.run(["ip", "netns", "exec", name, dig, "+short", "+tries=1", "+time=2",
                                 "wa-students.org", "MX"], capture_output=True, text=True, timeout=30)
        assert "edlio.map.fastly.net." in inside.stdout  # via /etc/resolv.conf -> the lab's unbound
        trace = _cli("trace", "wa-students-2017", "--via-lab", str(state), "--time-scale", "0.02",
                     "-m", "postfix", "-f", "json")
        assert trace.returncode == 1, trace.stderr  # deferred, as the model says
        assert '"151.101.2.10"' in trace.stdout and "timeout" in trace.stdout
    finally:
        down = _cli("lab", "down", "--state", str(state))
    assert down.returncode == 0, down.stderr
    assert not netns.exists(name) and not Path(f"/etc/netns/{name}").exists()


def test_netns_without_root_is_one_clear_line(tmp_path: Path) -> None:
    require_tool("setpriv", "util-linux")
    state = tmp_path / "lab"
    command = [sys.executable, "-c", "from mxsim.cli import main; main()", "lab", "up", "wa-students-2017",
               "--state", str(state), "--netns", "mxsim-noroot", "--dns-port", "20553", "--smtp-port", "20525"]
    if os.geteuid() == 0:
        # Root without capabilities: what an unprivileged container gives.
        command = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1 and "needs root" in done.stderr
    assert not netns.exists("mxsim-noroot") and not (state / "state.json").exists()


def test_down_after_a_crash_stops_unbound_and_removes_the_namespace(tmp_path: Path) -> None:
    require_root("a network namespace")
    require_tool("ip", "iproute2")
    require_tool("unbound", "unbound")
    name = f"mxsim-c{os.getpid() % 100000}"
    state = tmp_path / "lab"
    info = up("wa-students-2017", state, dns_port=53, resolver="unbound", netns_name=name)
    record = lab_status(state).state
    assert record is not None and record["resolver"]
    os.kill(info.pid, signal.SIGKILL)
    assert process.wait_gone(info.pid, 5)
    assert not lab_status(state).running
    down = lab_down(state)
    assert down.outcome == "already gone"
    assert not process.alive(int(record["resolver"]["pid"]))
    assert not netns.exists(name) and not state.exists()


def test_unbound_needs_port_53(tmp_path: Path) -> None:
    from mxsim.lab.errors import LabError

    with pytest.raises(LabError, match="port 53"):
        up("wa-students-2017", tmp_path / "lab", resolver="unbound")
    assert not (tmp_path / "lab" / "state.json").exists()
