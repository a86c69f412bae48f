"""A small authoritative DNS world that misbehaves on purpose, on 127.0.0.0/8 only.

Servers, each on its own loopback address and all on one UDP+TCP port (`mxsim check`
takes one DNS port for every server):

- the root (`a.root.test.`), which serves "." and refers the domain to its servers;
- the domain's server (`ns1.<domain>`), which serves the zone below and misbehaves in the
  ways `Mode` names (several at once, changeable while it runs: a long campaign reuses one
  server for many examples);
- with `second=`, a second server (`ns2.<domain>`) with misbehaviours of its own; with
  `nsid=True` each names itself in NSID, so that a check tells them apart as backends.

The data speaks of documentation addresses (RFC 5737), as a real zone would speak of
public ones: MTAs treat a loopback MX host as "mail loops back to myself".
`destinations` maps each to its loopback address, as the lab's address map does, and
refuses any other. Nothing listens for mail: a probe of the MX host is refused.

The zone (`example.test.` unless told otherwise):

    @     SOA ns1 hostmaster 1 7200 3600 1209600 300
    @     NS  ns1
    @     MX  10 mx
    @     TXT "v=spf1 mx -all"
    @     A   203.0.113.80
    ns1   A   198.51.100.2
    mx    A   203.0.113.25

Everything is bounded: the serving thread polls a stop flag every POLL seconds, every TCP
connection is closed when the server stops, and nothing is sent anywhere but to the
loopback address that asked.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from mxsim.lab.addressmap import UnmappedAddressError, ensure_loopback

POLL = 0.05  # seconds between looks at the stop flag
PORT_ATTEMPTS = 20
PORT_RANGE = (20000, 32000)  # below Linux's ephemeral range: client sockets never hold these
# What the data says -> where it is served (or, for the hosts, where nothing listens).
ROOT_ADDRESS = "198.51.100.1"
NS_ADDRESS = "198.51.100.2"
NS2_ADDRESS = "198.51.100.3"  # the second server, when one is asked for
APEX_ADDRESS = "203.0.113.80"
MX_ADDRESS = "203.0.113.25"
LOOPBACK = {ROOT_ADDRESS: "127.53.0.1", NS_ADDRESS: "127.53.0.2", NS2_ADDRESS: "127.53.0.3",
            APEX_ADDRESS: "127.53.0.80", MX_ADDRESS: "127.53.0.25"}
ROOT_NAME = dns.name.from_text("a.root.test.")
TTL = 300
CNAME_CHAIN_LENGTH = 100
DRIP_INTERVAL = 0.1  # seconds between two bytes of a dripped TCP reply
OVERSIZED = 0xFFFF
_ports = random.Random()


class Mode(StrEnum):
    """What the domain's server does wrong; any set of them at once."""

    DROP_MX = "drop-mx"  # no reply at all to MX queries
    NODATA_ADDRESSES = "nodata-addresses"  # A/AAAA at the domain: NOERROR with no records
    MX_POINTER_LOOP = "mx-pointer-loop"  # MX replies whose answer owner is a compression pointer to itself
    WRONG_QUESTION = "wrong-question"  # every reply carries another question (and that question's answer)
    TRUNCATE_ALWAYS = "truncate-always"  # every reply has TC set and no records, over UDP and over TCP
    SELF_REFERRAL = "self-referral"  # every reply refers the domain to its own server (no AA)
    UPWARD_REFERRAL = "upward-referral"  # every reply refers to the root (no AA, root NS in authority)
    SERVFAIL_MX = "servfail-mx"  # SERVFAIL to every MX query
    DROP_HOST_ADDRESSES = "drop-host-addresses"  # no reply to A/AAAA of the mail host (mx.<domain>)
    GARBAGE = "garbage"  # every reply is random bytes (with the query's ID), over UDP and over TCP
    OVERSIZED_LENGTH = "oversized-length"  # UDP: TC; TCP: a length prefix of 65535 before a shorter reply
    TCP_DRIP = "tcp-drip"  # UDP: TC; TCP: the reply one byte per DRIP_INTERVAL
    CNAME_CHAIN = "cname-chain"  # MX: a chain of CNAME_CHAIN_LENGTH CNAMEs, the last one owning the MX
    CNAME_LOOP = "cname-loop"  # MX: the domain is a CNAME to c1, c1 a CNAME back to the domain
    NXDOMAIN_WITH_ANSWERS = "nxdomain-with-answers"  # MX: rcode NXDOMAIN, and the MX record in the answer
    FLAPPING = "flapping"  # every other query to this server goes unanswered


@dataclass
class Seen:
    """What the server was asked: (address it was asked at, name, type, over TCP)."""

    queries: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def count(self, qtype: str | None = None, *, at: str | None = None) -> int:
        return sum(1 for where, _name, kind, _tcp in self.queries
                   if (qtype is None or kind == qtype) and (at is None or where == at))


class HostileDns:
    """The root and the domain's server, answering from one thread until `stop()`."""

    def __init__(self, domain: str = "example.test", modes: Iterable[Mode] = (), *, without: Iterable[str] = (),
                 second: Iterable[Mode] | None = None, nsid: bool = False, glue: bool = True,
                 port: int = 0) -> None:
        self.domain = dns.name.from_text(domain)
        self.modes: set[Mode] = set(modes)
        # A second server (ns2.<domain>) with misbehaviours of its own; None: the zone has one server.
        self.second_modes: set[Mode] | None = None if second is None else set(second)
        self.nsid = nsid  # each server names itself in NSID ("ns1", "ns2") when asked: two backends
        self.glue = glue  # False: the root refers to the domain's servers without their addresses
        # Record types the domain itself does not have (a correct NODATA for them, not a misbehaviour).
        self.without = {dns.rdatatype.from_text(t) for t in without}
        self.port = port
        self.seen = Seen()
        self.ns_name = dns.name.from_text("ns1", self.domain)
        self.ns2_name = dns.name.from_text("ns2", self.domain)
        self.mx_name = dns.name.from_text("mx", self.domain)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._sockets: list[socket.socket] = []
        self._buffers: dict[socket.socket, tuple[str, bytes]] = {}
        self._drips: dict[socket.socket, bytes] = {}  # TCP replies still being dripped, one byte a turn
        self._asked = 0  # queries to the domain's servers, for FLAPPING
        self._thread: threading.Thread | None = None

    # -- what a check is told ---------------------------------------------------------

    @property
    def root_hints(self) -> tuple[tuple[dns.name.Name, str], ...]:
        return ((ROOT_NAME, ROOT_ADDRESS),)

    @property
    def domain_text(self) -> str:
        return self.domain.to_text(omit_final_dot=True)

    @property
    def destinations(self) -> Destinations:
        """Where a check sends what it addresses to the data's addresses (`CheckConfig.destinations`)."""
        return Destinations()

    @property
    def servers(self) -> list[tuple[dns.name.Name, str]]:
        """The domain's servers: (name, address as the data says it)."""
        found = [(self.ns_name, NS_ADDRESS)]
        return found + ([(self.ns2_name, NS2_ADDRESS)] if self.second_modes is not None else [])

    def set_modes(self, modes: Iterable[Mode], second: Iterable[Mode] | None = None) -> None:
        with self._lock:
            self.modes = set(modes)
            if second is not None and self.second_modes is not None:
                self.second_modes = set(second)

    # -- life -----------------------------------------------------------------------

    def start(self) -> HostileDns:
        for _attempt in range(PORT_ATTEMPTS):
            port = self.port or _ports.randrange(*PORT_RANGE)
            try:
                self._bind(port)
            except OSError:
                self._close_sockets()
                if self.port:
                    raise
                continue
            self.port = port
            break
        else:
            raise OSError("no free port for the hostile DNS server")
        self._thread = threading.Thread(target=self._serve, name="hostile-dns", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._close_sockets()

    def _bind(self, port: int) -> None:
        for real in (ROOT_ADDRESS, *(address for _name, address in self.servers)):
            address = ensure_loopback(LOOPBACK[real])  # nothing is ever bound elsewhere
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sockets.append(udp)
            udp.bind((address, port))
            udp.setblocking(False)
            self._selector.register(udp, selectors.EVENT_READ, ("udp", real))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._sockets.append(tcp)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((address, port))
            tcp.listen(64)
            tcp.setblocking(False)
            self._selector.register(tcp, selectors.EVENT_READ, ("listen", real))

    def _close_sockets(self) -> None:
        for sock in [*self._sockets, *self._buffers]:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(sock)
            sock.close()
        self._sockets.clear()
        self._buffers.clear()
        self._drips.clear()

    def _serve(self) -> None:
        dripped = 0.0
        while not self._stop.is_set():
            if self._drips and time.monotonic() - dripped >= DRIP_INTERVAL:
                dripped = time.monotonic()
                self._drip()
            for key, _events in self._selector.select(DRIP_INTERVAL if self._drips else POLL):
                kind, address = key.data
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                with contextlib.suppress(OSError):
                    if kind == "udp":
                        self._udp(sock, address)
                    elif kind == "listen":
                        self._accept(sock, address)
                    else:
                        self._tcp(sock, address)

    # `address` below is the served address as the data says it (ROOT_ADDRESS, NS_ADDRESS, NS2_ADDRESS).

    def _udp(self, sock: socket.socket, address: str) -> None:
        data, peer = sock.recvfrom(65535)
        if not ipaddress.ip_address(peer[0]).is_loopback:
            return
        reply = self.reply(data, address, tcp=False)
        if reply is not None:
            sock.sendto(reply, peer)

    def _accept(self, listener: socket.socket, address: str) -> None:
        conn, peer = listener.accept()
        if not ipaddress.ip_address(peer[0]).is_loopback:
            conn.close()
            return
        conn.setblocking(False)
        self._buffers[conn] = (address, b"")
        self._selector.register(conn, selectors.EVENT_READ, ("tcp", address))

    def _drip(self) -> None:
        for conn, rest in list(self._drips.items()):
            try:
                conn.send(rest[:1])
            except OSError:
                rest = b""
            if rest[1:]:
                self._drips[conn] = rest[1:]
            else:
                del self._drips[conn]

    def _tcp(self, conn: socket.socket, address: str) -> None:
        chunk = conn.recv(65535)
        if not chunk:
            self._selector.unregister(conn)
            self._buffers.pop(conn, None)
            self._drips.pop(conn, None)
            conn.close()
            return
        where, buffer = self._buffers[conn]
        buffer += chunk
        while len(buffer) >= 2 and len(buffer) >= 2 + int.from_bytes(buffer[:2], "big"):
            size = int.from_bytes(buffer[:2], "big")
            query, buffer = buffer[2:2 + size], buffer[2 + size:]
            reply = self.reply(query, where, tcp=True)
            with self._lock:
                modes = set(self.modes if where == NS_ADDRESS else self.second_modes or ())
            if reply is not None and Mode.TCP_DRIP in modes and where != ROOT_ADDRESS:
                self._drips[conn] = self._drips.get(conn, b"") + len(reply).to_bytes(2, "big") + reply
            elif reply is not None:
                if Mode.OVERSIZED_LENGTH in modes and where != ROOT_ADDRESS:
                    prefix = OVERSIZED.to_bytes(2, "big")
                else:
                    prefix = len(reply).to_bytes(2, "big")
                conn.setblocking(True)
                conn.settimeout(1.0)
                conn.sendall(prefix + reply)
                conn.setblocking(False)
        self._buffers[conn] = (where, buffer)

    # -- answers --------------------------------------------------------------------

    def reply(self, wire: bytes, address: str, *, tcp: bool) -> bytes | None:
        """The bytes sent back to a query that reached `address`; None: no reply."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:  # garbage in: silence, as a server would
            return None
        if not query.question:
            return None
        question = query.question[0]
        with self._lock:
            modes = set(self.modes if address == NS_ADDRESS else self.second_modes or ())
            self.seen.queries.append((address, question.name.to_text(), dns.rdatatype.to_text(question.rdtype), tcp))
            if address != ROOT_ADDRESS:
                self._asked += 1
            flapped = Mode.FLAPPING in modes and self._asked % 2 == 1
        if address == ROOT_ADDRESS:
            return self._root(query).to_wire()
        if flapped:
            return None
        if Mode.GARBAGE in modes:  # the query's ID, so that a client reads on past it
            return wire[:2] + random.Random(self._asked).randbytes(10 + self._asked % 200)
        if not tcp and {Mode.OVERSIZED_LENGTH, Mode.TCP_DRIP} & modes:
            response = dns.message.make_response(query)
            response.flags |= dns.flags.TC | dns.flags.AA
            return response.to_wire()
        return self._hostile(query, modes, address, tcp=tcp)

    def _nsid(self, query: dns.message.Message, response: dns.message.Message, address: str) -> dns.message.Message:
        """The server's name in NSID, when it sends one and the query carries EDNS."""
        if self.nsid and query.edns >= 0:
            label = "ns1" if address == NS_ADDRESS else "ns2"
            response.use_edns(0, payload=1232, options=[dns.edns.GenericOption(dns.edns.OptionType.NSID,
                                                                               label.encode())])
        return response

    def _hostile(self, query: dns.message.Message, modes: set[Mode], address: str, *,
                 tcp: bool = False) -> bytes | None:
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        is_mx = rdtype == dns.rdatatype.MX
        is_address = rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
        if Mode.DROP_MX in modes and is_mx:
            return None
        if Mode.DROP_HOST_ADDRESSES in modes and is_address and name == self.mx_name:
            return None
        if Mode.TRUNCATE_ALWAYS in modes:
            response = dns.message.make_response(query)
            response.flags |= dns.flags.TC | dns.flags.AA
        elif Mode.SERVFAIL_MX in modes and is_mx:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
        elif Mode.SELF_REFERRAL in modes:
            response = self._referral(query, self.domain, self.servers)
        elif Mode.UPWARD_REFERRAL in modes:
            response = self._referral(query, dns.name.root, [(ROOT_NAME, ROOT_ADDRESS)])
        elif Mode.WRONG_QUESTION in modes:
            other = dns.message.make_query(dns.name.from_text("x-wrong", self.domain), rdtype)
            other.id = query.id
            response = self._zone(other, modes)
        elif is_mx and name == self.domain and {Mode.CNAME_CHAIN, Mode.CNAME_LOOP} & modes:
            response = self._cnames(query, loop=Mode.CNAME_LOOP in modes)
        else:
            response = self._zone(query, modes)
        if Mode.NXDOMAIN_WITH_ANSWERS in modes and is_mx:
            response.set_rcode(dns.rcode.NXDOMAIN)
        response = self._nsid(query, response, address)
        if Mode.MX_POINTER_LOOP in modes and is_mx:
            return _pointer_loop(response)
        udp_size = max(512, query.payload) if query.edns >= 0 else 512  # RFC 1035 §4.2.1, RFC 6891 §6.2.5
        try:  # a long CNAME chain passes the UDP size: truncated, as a server would
            return response.to_wire(max_size=0xFFFF if tcp else udp_size)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC | dns.flags.AA
            return truncated.to_wire()

    def _zone(self, query: dns.message.Message, modes: set[Mode]) -> dns.message.Message:
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        response = dns.message.make_response(query)
        if not name.is_subdomain(self.domain):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        records = self._records()
        if Mode.NODATA_ADDRESSES in modes and name == self.domain:
            records = {k: v for k, v in records.items() if k[0] != self.domain
                       or k[1] not in (dns.rdatatype.A, dns.rdatatype.AAAA)}
        found = records.get((name, rdtype))
        if found is not None:
            response.answer.append(found)
            return response
        if not any(owner == name for owner, _ in records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(records[(self.domain, dns.rdatatype.SOA)])
        return response

    def _cnames(self, query: dns.message.Message, *, loop: bool) -> dns.message.Message:
        """The domain a CNAME to c1, c1 to c2, ... (the last owning the MX), or c1 back to the domain."""
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        length = 1 if loop else CNAME_CHAIN_LENGTH
        names = [self.domain, *(dns.name.from_text(f"c{i}", self.domain) for i in range(1, length + 1))]
        if loop:
            names.append(self.domain)
        for owner, target in itertools.pairwise(names):
            response.answer.append(dns.rrset.from_text(owner, TTL, "IN", "CNAME", target.to_text()))
        if not loop:
            response.answer.append(dns.rrset.from_text(names[-1], TTL, "IN", "MX", f"10 {self.mx_name}"))
        return response

    def _records(self) -> dict[tuple[dns.name.Name, dns.rdatatype.RdataType], dns.rrset.RRset]:
        d, ns, mx = self.domain, self.ns_name, self.mx_name
        rrsets = [
            dns.rrset.from_text(d, TTL, "IN", "SOA", f"{ns} hostmaster.{d} 1 7200 3600 1209600 300"),
            dns.rrset.from_text(d, TTL, "IN", "NS", *(name.to_text() for name, _ in self.servers)),
            dns.rrset.from_text(d, TTL, "IN", "MX", f"10 {mx}"),
            dns.rrset.from_text(d, TTL, "IN", "TXT", '"v=spf1 mx -all"'),
            dns.rrset.from_text(d, TTL, "IN", "A", APEX_ADDRESS),
            *(dns.rrset.from_text(name, TTL, "IN", "A", address) for name, address in self.servers),
            dns.rrset.from_text(mx, TTL, "IN", "A", MX_ADDRESS),
        ]
        return {(r.name, r.rdtype): r for r in rrsets if r.name != d or r.rdtype not in self.without}

    def _referral(self, query: dns.message.Message, cut: dns.name.Name,
                  servers: list[tuple[dns.name.Name, str]], *, glue: bool = True) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags &= ~dns.flags.AA
        response.authority.append(dns.rrset.from_text(cut, TTL, "IN", "NS", *(n.to_text() for n, _ in servers)))
        for name, address in servers if glue else ():
            response.additional.append(dns.rrset.from_text(name, TTL, "IN", "A", address))
        return response

    def _root(self, query: dns.message.Message) -> dns.message.Message:
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        response = dns.message.make_response(query)
        if name.is_subdomain(self.domain):
            return self._referral(query, self.domain, self.servers, glue=self.glue)
        response.flags |= dns.flags.AA
        if name == ROOT_NAME and rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(ROOT_NAME, TTL, "IN", "A", ROOT_ADDRESS))
            return response
        if name == dns.name.root and rdtype == dns.rdatatype.NS:
            response.answer.append(dns.rrset.from_text(dns.name.root, TTL, "IN", "NS", ROOT_NAME.to_text()))
            return response
        if name not in (dns.name.root, ROOT_NAME):
            response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(dns.rrset.from_text(
            dns.name.root, TTL, "IN", "SOA", f"{ROOT_NAME} hostmaster.root.test. 1 7200 3600 1209600 300"))
        return response


def _pointer_loop(response: dns.message.Message) -> bytes:
    """The reply with its first answer's owner name made a compression pointer to itself."""
    wire = bytearray(response.to_wire())
    qdcount, ancount = struct.unpack("!HH", wire[4:8])
    if not ancount:
        return bytes(wire)
    at = 12
    for _ in range(qdcount):  # the question: an uncompressed name, then type and class
        while wire[at]:
            at += wire[at] + 1
        at += 1 + 4
    # The first answer's owner is a 2-byte pointer (to the question) in dnspython's output:
    # point it at itself instead, so a reader following it never reaches a label.
    assert wire[at] & 0xC0 == 0xC0
    wire[at:at + 2] = struct.pack("!H", 0xC000 | at)
    return bytes(wire)


class Destinations:
    """The data's addresses -> loopback (`mxsim.transport.wire.Destinations`); any other is refused."""

    def lab(self, real: str) -> str:
        found = LOOPBACK.get(str(ipaddress.ip_address(real)))
        if found is None:
            raise UnmappedAddressError(f"{real} is not served by the hostile DNS world")
        return found

    def bindable(self, lab: str) -> str:
        return ensure_loopback(lab)

    def unrewrite_message(self, message: dns.message.Message) -> None:
        return None  # the servers speak the data's addresses already


@contextlib.contextmanager
def hostile_dns(domain: str = "example.test", modes: Iterable[Mode] = (), *, without: Iterable[str] = (),
                second: Iterable[Mode] | None = None, nsid: bool = False,
                glue: bool = True) -> Iterator[HostileDns]:
    """A running hostile world, stopped on leaving the block whatever happened."""
    server = HostileDns(domain, modes, without=without, second=second, nsid=nsid, glue=glue).start()
    try:
        yield server
    finally:
        server.stop()
