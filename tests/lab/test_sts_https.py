"""The lab's MTA-STS endpoints and CA, met by real HTTPS and SMTP clients on 127.0.0.0/8."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import stat
from pathlib import Path

import pytest

from mxsim.lab.sts_https import CA_FILE, CA_KEY, LabCa
from mxsim.scenario import load_scenario_text
from mxsim.transport.base import FetchStatus, PolicyFetch
from mxsim.transport.policy_fetch import fetch_policy, trust
from mxsim.world import World
from tests.lab.conftest import RunningLab, running_lab

POLICY = "version: STSv1\nmode: enforce\nmx: mx1.example.net\nmax_age: 86400\n"
SCENARIO = """mxsim: 1
zones:
  example.org: |
    @ MX 10 mx1.example.net.
    _mta-sts TXT "v=STSv1; id=1"
    mta-sts A 192.0.2.80
  example.com: |
    mta-sts A 192.0.2.81
  example.info: |
    mta-sts A 192.0.2.82
  example.biz: |
    mta-sts A 192.0.2.83
  example.net: |
    mx1 A 192.0.2.11
hosts:
  mx1.example.net: {smtp: accept, tls: handshake}
mta_sts:
  example.org:
    policy: |
      version: STSv1
      mode: enforce
      mx: mx1.example.net
      max_age: 86400
  example.com: {endpoint: not-found}
  example.info: {endpoint: tls-error}
  example.biz: {endpoint: timeout}
"""


def _fetch(lab: RunningLab, real: str, domain: str, timeout: float = 3.0) -> tuple[FetchStatus, str]:
    assert lab.servers.sts is not None
    where = lab.lab(real)
    port = lab.servers.sts.endpoints.port_of(where)
    context = trust(lab.servers.sts.ca_file)
    reply = asyncio.run(fetch_policy(PolicyFetch(domain, "", timeout), where, context, port))
    return reply.status, reply.text


def test_each_endpoint_does_what_the_scenario_says_to_a_verifying_https_client() -> None:
    world = World(load_scenario_text(SCENARIO, "sts.yaml"))
    with running_lab(world, https_port=0) as lab:
        assert _fetch(lab, "192.0.2.80", "example.org") == (FetchStatus.OK, POLICY)
        assert _fetch(lab, "192.0.2.81", "example.com")[0] == FetchStatus.NOT_FOUND
        assert _fetch(lab, "192.0.2.82", "example.info")[0] == FetchStatus.TLS_ERROR
        assert _fetch(lab, "192.0.2.83", "example.biz", timeout=1.0)[0] == FetchStatus.TIMEOUT
        # A client that does not trust the lab CA refuses even the good endpoint.
        assert lab.servers.sts is not None
        where = lab.lab("192.0.2.80")
        port = lab.servers.sts.endpoints.port_of(where)
        assert asyncio.run(fetch_policy(PolicyFetch("example.org", "", 3.0), where,
                                        ssl.create_default_context(), port)).status == FetchStatus.TLS_ERROR
        seen = [(r["domain"], r["status"]) for r in lab.servers.status()["https"]]  # type: ignore[union-attr]
        assert ("example.org", 200) in seen and ("example.com", 404) in seen and ("example.biz", 0) in seen


def test_the_mail_hosts_certificate_comes_from_the_lab_ca_and_names_the_host() -> None:
    world = World(load_scenario_text(SCENARIO, "sts.yaml"))
    with running_lab(world, https_port=0) as lab:
        assert lab.servers.sts is not None
        context = ssl.create_default_context(cafile=str(lab.servers.sts.ca_file))
        with smtplib.SMTP(lab.lab("192.0.2.11"), lab.smtp_port, timeout=5) as client:
            client.ehlo("client.invalid")
            client._host = "mx1.example.net"  # the name the certificate is checked against
            code, _ = client.starttls(context=context)
            assert code == 220
            assert client.sock is not None and isinstance(client.sock, ssl.SSLSocket)
            assert client.sock.version() in ("TLSv1.2", "TLSv1.3")


def test_the_ca_key_is_private_and_the_certificate_shared(tmp_path: Path) -> None:
    LabCa(tmp_path)
    assert stat.S_IMODE((tmp_path / CA_KEY).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / CA_FILE).stat().st_mode) == 0o644
    assert "BEGIN CERTIFICATE" in (tmp_path / CA_FILE).read_text()


@pytest.mark.parametrize("domain", ["example.org"])
def test_a_world_without_mta_sts_starts_no_https(domain: str) -> None:
    world = World(load_scenario_text(SCENARIO.split("mta_sts:")[0], "plain.yaml"))
    with running_lab(world, https_port=0) as lab:
        assert lab.servers.sts is None and "https" not in lab.servers.status()
