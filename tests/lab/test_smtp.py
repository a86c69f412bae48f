"""The lab's SMTP listeners over real sockets, one per smtp kind."""

from __future__ import annotations

import asyncio
import email.policy
import json
import smtplib
import socket
import time
from collections.abc import Iterator
from email.message import EmailMessage

import aiosmtplib
import pytest

from mxsim.lab.smtp_server import DROP_AS_TARPIT, DROP_BY_FULL_QUEUE
from mxsim.lab.smtp_session import SmtpSink
from mxsim.scenario import load_scenario
from mxsim.world import World
from tests.lab.conftest import WIRE_SCENARIO, RunningLab, running_lab

pytestmark = pytest.mark.lab

ACCEPT = "192.0.2.25"
SIX = "2001:db8::25"
PLAIN = "192.0.2.32"
REFUSE = "192.0.2.26"
TARPIT = "192.0.2.27"
REJECT = "192.0.2.28"
TEMPFAIL = "192.0.2.29"
SLOW = "192.0.2.30"
DROP = "192.0.2.31"
HANGUP = "192.0.2.33"


@pytest.fixture(scope="module")
def mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    sink = SmtpSink(tmp_path_factory.mktemp("sink") / "messages.jsonl")
    world = World(load_scenario(WIRE_SCENARIO))
    with running_lab(world, sink=sink, tarpit_hold=5.0, command_timeout=5.0) as lab:
        yield lab


def _connect(lab: RunningLab, real: str, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection((lab.lab(real), lab.smtp_port), timeout)


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "sender@example.net"
    message["To"] = "user@example.org"
    message["Subject"] = "lab test"
    message.set_content("Hello from the lab.\n.leading dot line\n")
    return message


def test_accept_records_a_full_transaction(mail: RunningLab) -> None:
    sink = mail.servers.sink
    before = len(sink.records)
    with smtplib.SMTP(mail.lab(ACCEPT), mail.smtp_port, timeout=5) as client:
        code, banner = client.ehlo("client.example.net")
        assert code == 250 and client.has_extn("starttls") and client.has_extn("pipelining")
        assert b"accept.example.org Hello client.example.net" in banner
        refused = client.sendmail(
            "sender@example.net", ["user@example.org", "other@example.org"],
            _message().as_bytes(policy=email.policy.SMTP),
        )
        assert refused == {}
    assert len(sink.records) == before + 1
    row = sink.records[-1]
    assert row["mail_from"] == "sender@example.net"
    assert row["rcpt_to"] == ["user@example.org", "other@example.org"]
    assert row["helo"] == "client.example.net"
    assert row["real_address"] == ACCEPT and row["lab_address"] == mail.lab(ACCEPT)
    assert row["peer"].startswith("127.")
    assert "Subject: lab test" in row["data"]
    assert "\r\n.leading dot line\r\n" in row["data"]  # dot-stuffing undone
    assert sink.path is not None
    lines = sink.path.read_text().splitlines()
    assert json.loads(lines[-1])["id"] == row["id"]


def test_accept_greets_with_the_banner_or_the_host_name(mail: RunningLab) -> None:
    with smtplib.SMTP(mail.lab(ACCEPT), mail.smtp_port, timeout=5) as client:
        code, _ = client.noop()
        assert code == 250
    with _connect(mail, ACCEPT) as sock:
        assert sock.recv(512) == b"220 accept.example.org ESMTP lab\r\n"
    with _connect(mail, SIX) as sock:
        assert sock.recv(512) == b"220 six.example.org ESMTP\r\n"


def test_starttls_is_offered_but_unavailable(mail: RunningLab) -> None:
    with smtplib.SMTP(mail.lab(ACCEPT), mail.smtp_port, timeout=5) as client:
        client.ehlo("client.example.net")
        with pytest.raises(smtplib.SMTPResponseException) as raised:
            client.starttls()
        assert raised.value.smtp_code == 454
    with smtplib.SMTP(mail.lab(PLAIN), mail.smtp_port, timeout=5) as client:
        client.ehlo("client.example.net")
        assert not client.has_extn("starttls")


def test_out_of_order_commands_get_503(mail: RunningLab) -> None:
    with smtplib.SMTP(mail.lab(ACCEPT), mail.smtp_port, timeout=5) as client:
        assert client.docmd("MAIL", "FROM:<a@example.net>")[0] == 503  # before EHLO
        client.ehlo("client.example.net")
        assert client.docmd("RCPT", "TO:<user@example.org>")[0] == 503
        assert client.docmd("MAIL", "FROM:<a@example.net>")[0] == 250
        assert client.docmd("DATA")[0] == 554  # no recipients
        assert client.docmd("RSET")[0] == 250
        assert client.docmd("BOGUS")[0] == 500


def test_aiosmtplib_delivers_with_pipelining(mail: RunningLab) -> None:
    async def send() -> None:
        await aiosmtplib.send(
            _message(), hostname=mail.lab(ACCEPT), port=mail.smtp_port, start_tls=False,
            timeout=5,
        )

    before = len(mail.servers.sink.records)
    asyncio.run(send())
    assert len(mail.servers.sink.records) == before + 1
    assert mail.servers.sink.records[-1]["rcpt_to"] == ["user@example.org"]


def test_refuse_gives_connection_refused(mail: RunningLab) -> None:
    with pytest.raises(ConnectionRefusedError):
        _connect(mail, REFUSE)


def test_tarpit_connects_and_never_greets(mail: RunningLab) -> None:
    with _connect(mail, TARPIT, timeout=0.5) as sock, pytest.raises(TimeoutError):
        sock.recv(512)


def test_a_tarpit_with_a_delay_closes_without_a_word(mail: RunningLab) -> None:
    started = time.monotonic()
    with _connect(mail, HANGUP, timeout=3.0) as sock:
        assert sock.recv(512) == b""  # closed, never greeted
    assert 0.2 <= time.monotonic() - started < 2.5


def test_reject_greets_554_and_waits_for_quit(mail: RunningLab) -> None:
    with pytest.raises(smtplib.SMTPConnectError) as raised:
        smtplib.SMTP(mail.lab(REJECT), mail.smtp_port, timeout=5)
    assert raised.value.smtp_code == 554
    with _connect(mail, REJECT) as sock:
        reader = sock.makefile("rb")
        assert reader.readline() == b"554 5.7.1 no service\r\n"
        sock.sendall(b"EHLO client.example.net\r\n")
        assert reader.readline().startswith(b"503 ")
        sock.sendall(b"QUIT\r\n")
        assert reader.readline().startswith(b"221 ")
        assert reader.readline() == b""


def test_tempfail_greets_421_and_closes(mail: RunningLab) -> None:
    with _connect(mail, TEMPFAIL) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"421 4.3.2 ")
        assert reader.readline() == b""


def test_slow_greets_after_its_delay(mail: RunningLab) -> None:
    start = time.monotonic()
    with _connect(mail, SLOW, timeout=3) as sock:
        assert sock.recv(512).startswith(b"220 ")
    assert time.monotonic() - start >= 0.45


def test_drop_leaves_the_connect_unanswered(mail: RunningLab) -> None:
    mode = mail.servers.smtp.counters[mail.lab(DROP)].mode
    if mode == DROP_AS_TARPIT:
        with _connect(mail, DROP, timeout=0.5) as sock, pytest.raises(TimeoutError):
            sock.recv(512)
        pytest.skip("this kernel answers SYNs on a full queue: drop runs as a tarpit")
    assert mode == DROP_BY_FULL_QUEUE
    for _ in range(3):
        with pytest.raises(TimeoutError):
            _connect(mail, DROP, timeout=0.5)


def test_the_2017_fastly_addresses_drop() -> None:
    world = World(load_scenario("wa-students-2017"))
    with running_lab(world) as lab:
        for real in ("151.101.2.10", "151.101.66.10"):
            assert lab.servers.smtp.counters[lab.lab(real)].mode in (
                DROP_BY_FULL_QUEUE, DROP_AS_TARPIT,
            )
        with smtplib.SMTP(lab.lab("142.250.153.26"), lab.smtp_port, timeout=5) as client:
            assert client.ehlo("x.example")[0] == 250


def test_an_endless_line_gets_500_and_the_listener_survives(mail: RunningLab) -> None:
    with _connect(mail, ACCEPT, timeout=5) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        sock.sendall(b"EHLO " + b"x" * (2 << 20) + b"\r\n")
        assert reader.readline().startswith(b"500 5.5.2")
    with smtplib.SMTP(mail.lab(ACCEPT), mail.smtp_port, timeout=5) as client:
        assert client.noop()[0] == 250


def test_a_tls_host_completes_starttls_and_a_transaction_over_it(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`tls: handshake`: 220 to STARTTLS, a real handshake (the lab's self-signed certificate),
    EHLO again without STARTTLS, then a message over TLS; the others still answer 454."""
    import dataclasses
    import ssl

    from mxsim.scenario.spec import TlsMode

    spec = load_scenario(WIRE_SCENARIO)
    hosts = tuple(dataclasses.replace(h, tls=TlsMode.HANDSHAKE) if h.key == "accept.example.org" else h
                  for h in spec.hosts)
    sink = SmtpSink(tmp_path_factory.mktemp("tls-sink") / "messages.jsonl")
    with running_lab(World(dataclasses.replace(spec, hosts=hosts)), sink=sink, command_timeout=5.0) as lab:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with smtplib.SMTP(lab.lab(ACCEPT), lab.smtp_port, timeout=5) as client:
            client.ehlo("client.example")
            assert client.has_extn("starttls")
            code, _ = client.starttls(context=context)
            assert code == 220
            assert client.sock is not None and client.sock.version() in ("TLSv1.2", "TLSv1.3")  # type: ignore[union-attr]
            client.ehlo("client.example")
            assert not client.has_extn("starttls")  # RFC 3207: not offered twice
            client.send_message(_message())
        assert [r["rcpt_to"] for r in sink.records] == [["user@example.org"]]
        with smtplib.SMTP(lab.lab(SIX), lab.smtp_port, timeout=5) as other:
            other.ehlo("client.example")
            assert other.docmd("STARTTLS")[0] == 454


def test_a_tls_host_without_openssl_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from mxsim.lab.errors import LabError
    from mxsim.lab.tls import self_signed_context

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LabError, match="openssl"):
        self_signed_context()
