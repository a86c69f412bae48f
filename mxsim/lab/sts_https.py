"""The lab's MTA-STS policy endpoints, and the lab CA that real software can be told to trust.

For each policy domain in the scenario's `mta_sts`, `https://mta-sts.<domain>/.well-known/mta-sts.txt`
is served on port 443 of the lab address of `mta-sts.<domain>`, with a certificate from the
lab's own CA (made when the lab starts, with openssl: an EC P-256 CA valid for two days, its
key 0600 and its certificate `lab-ca.pem` in the state folder, for senders to trust). What
each endpoint does is the scenario's `endpoint`:

- `serve`: 200, `Content-Type: text/plain`, the policy text;
- `not-found`: 404;
- `tls-error`: a certificate for the right name that no CA signed (self-signed), so a
  verifying client refuses it;
- `timeout`: the connection is accepted and nothing is ever said (held until the client
  leaves, at most `HOLD` seconds).

Every request is logged (`requests`): the policy fetches a sender made, for comparison with
the model's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.rdatatype

from mxsim.lab import files, state
from mxsim.lab.addressmap import AddressMap
from mxsim.lab.errors import LabError
from mxsim.lab.tls import OPENSSL_TIMEOUT, self_signed_context
from mxsim.scenario.mta_sts import Endpoint, StsSpec
from mxsim.world import World

CA_FILE = state.LAB_CA  # in the state folder: what senders in the lab trust
CA_KEY = state.LAB_CA_KEY
HOLD = 60.0  # seconds a `timeout` endpoint keeps a silent connection at most
READ_TIMEOUT = 10.0  # seconds for a client's request head
MAX_REQUEST = 8192


def _openssl(args: Sequence[str], what: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LabError(f"{what} needs the openssl command (apt-get install openssl)")
    done = subprocess.run([openssl, *args], capture_output=True, text=True, timeout=OPENSSL_TIMEOUT, check=False)
    if done.returncode != 0:
        raise LabError(f"openssl could not make {what}: {done.stderr.strip()[-300:]}")


class LabCa:
    """A CA made in `folder` (its key 0600, its certificate 0644), and server certificates from it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = folder / CA_KEY
        self.cert = folder / CA_FILE
        files.write_file(self.key, b"", files.PRIVATE)  # openssl truncates and fills it; the mode stays
        files.write_file(self.cert, b"", files.SHARED)
        _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-days", "2", "-subj", "/CN=mxsim lab CA", "-keyout", str(self.key), "-out", str(self.cert),
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"], "the lab's CA")
        self._serial = int(time.time() * 1000)

    def context(self, names: Sequence[str]) -> ssl.SSLContext:
        """A server context whose certificate, issued by this CA, names every one of `names`."""
        self._serial += 1
        with tempfile.TemporaryDirectory(prefix="mxsim-lab-ca-") as scratch:
            where = Path(scratch)
            os.chmod(where, files.PRIVATE_FOLDER)
            key, request, cert, extensions = (where / n for n in ("key.pem", "req.pem", "cert.pem", "ext.cnf"))
            files.write_file(key, b"", files.PRIVATE)
            alt = ",".join(f"DNS:{name}" for name in names)
            files.write_file(extensions, (
                f"subjectAltName={alt}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n").encode())
            _openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-subj", f"/CN={names[0]}", "-keyout", str(key), "-out", str(request)], "a lab certificate")
            _openssl(["x509", "-req", "-in", str(request), "-CA", str(self.cert), "-CAkey", str(self.key),
                      "-set_serial", str(self._serial), "-days", "1", "-extfile", str(extensions),
                      "-out", str(cert)], "a lab certificate")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
        return context


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """One request an endpoint saw."""

    at: float  # wall-clock seconds
    domain: str  # the policy domain whose endpoint was asked
    address: str  # the lab address it was asked at
    path: str  # the path asked for ("" when no request came: a timeout or a TLS failure)
    status: int  # the HTTP status answered; 0 when none was

    def to_json(self) -> dict[str, object]:
        return {"domain": self.domain, "address": self.address, "path": self.path, "status": self.status}


class StsEndpoints:
    """The policy endpoints of a world, on `port` of their lab addresses."""

    def __init__(self, world: World, address_map: AddressMap, ca: LabCa, port: int = 443) -> None:
        self.world = world
        self.map = address_map
        self.ca = ca
        self.port = port
        self.requests: list[PolicyRequest] = []
        self.servers: list[asyncio.Server] = []
        self._open: set[asyncio.StreamWriter] = set()  # closed at stop: a held connection must not outlive the lab

    def addresses(self, spec: StsSpec) -> list[str]:
        """The real addresses of `mta-sts.<domain>` in the world's zone data."""
        found: list[str] = []
        for zone in self.world.spec.zones:
            if spec.host.is_subdomain(zone.origin):
                rdataset = zone.zone.get_rdataset(spec.host, dns.rdatatype.A)
                found += [str(rdata.address) for rdata in rdataset or ()]
        return found

    async def start(self) -> None:
        for spec in self.world.spec.mta_sts:
            host = spec.host.to_text(omit_final_dot=True)
            context = self_signed_context(host) if spec.endpoint == Endpoint.TLS_ERROR else self.ca.context([host])
            for real in self.addresses(spec):
                lab = self.map.bindable(self.map.lab(real))

                async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                 spec: StsSpec = spec, lab: str = lab) -> None:
                    await self._handle(spec, lab, reader, writer)

                tls = None if spec.endpoint == Endpoint.TIMEOUT else context
                try:
                    server = await asyncio.start_server(handle, lab, self.port, ssl=tls, reuse_address=True,
                                                        ssl_handshake_timeout=READ_TIMEOUT if tls else None)
                except OSError as error:
                    raise LabError(f"cannot serve HTTPS on {lab} port {self.port}: {error.strerror or error}"
                                   + (" (in use)" if error.errno == 98 else "")) from error
                self.servers.append(server)

    async def _handle(self, spec: StsSpec, lab: str, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        domain = spec.domain.to_text(omit_final_dot=True)
        self._open.add(writer)
        try:
            if spec.endpoint == Endpoint.TIMEOUT:
                self.requests.append(PolicyRequest(time.time(), domain, lab, "", 0))
                with contextlib.suppress(TimeoutError, OSError):
                    await asyncio.wait_for(reader.read(), HOLD)  # silent until the client leaves
                return
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, ssl.SSLError):
                self.requests.append(PolicyRequest(time.time(), domain, lab, "", 0))
                return
            path = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[1:2]
            asked = path[0] if path else ""
            if spec.endpoint == Endpoint.SERVE and spec.policy is not None and asked == "/.well-known/mta-sts.txt":
                status, body = 200, spec.policy.text.encode()
            else:
                status, body = 404, b"not found\n"
            self.requests.append(PolicyRequest(time.time(), domain, lab, asked, status))
            reason = "OK" if status == 200 else "Not Found"
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.drain()
        finally:
            self._open.discard(writer)
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for writer in list(self._open):
            writer.close()
        for server in self.servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5.0)
        self.servers.clear()

    def port_of(self, lab: str) -> int:
        """The port an endpoint listens on at a lab address (the one given, or the kernel's pick for 0)."""
        for server in self.servers:
            for sock in server.sockets:
                if sock.getsockname()[0] == lab:
                    return int(sock.getsockname()[1])
        raise LookupError(f"no policy endpoint at {lab}")

    def status(self) -> list[dict[str, object]]:
        return [request.to_json() for request in self.requests]


def host_names(names: Sequence[str]) -> list[str]:
    """Names a certificate can hold: host names, not addresses, without the root's dot."""
    out = []
    for name in names:
        with contextlib.suppress(dns.name.BadLabelType, dns.name.EmptyLabel, ValueError):
            text = dns.name.from_text(name).to_text(omit_final_dot=True)
            if text and not text.replace(".", "").isdigit():
                out.append(text)
    return out


class StsLab:
    """The lab's CA and its MTA-STS endpoints, for one running lab."""

    def __init__(self, world: World, address_map: AddressMap, port: int, ca_folder: Path | None) -> None:
        self.world = world
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        if ca_folder is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="mxsim-lab-ca-")
            ca_folder = Path(self._scratch.name)
            os.chmod(ca_folder, files.PRIVATE_FOLDER)
        self.ca = LabCa(ca_folder)
        self.endpoints = StsEndpoints(world, address_map, self.ca, port)

    @property
    def ca_file(self) -> Path:
        return self.ca.cert

    def smtp_context(self, real: str) -> ssl.SSLContext:
        """The certificate of a mail host's address: every name that leads there."""
        return self.ca.context(host_names(self.world.host_names(real)) or [real])

    async def start(self) -> None:
        await self.endpoints.start()

    async def stop(self) -> None:
        await self.endpoints.stop()
        if self._scratch is not None:
            self._scratch.cleanup()
