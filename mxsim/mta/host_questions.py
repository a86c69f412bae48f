"""The DNS questions an MTA asks about the host it runs on and about the sender.

Besides the questions of a delivery, a real MTA asks about itself and about whom it
mails for, at fixed points (measured in the lab, docs/agreement.md#the-sending-host):

- Sendmail, as each process starts: its own host name (sendmail/main.c calls
  `myhostname`, sendmail/conf.c, which looks the name up with `sm_gethostbyname`: IPv6
  first; the IPv4 answer comes from /etc/hosts), the reverse name of every IPv4
  interface address (sendmail/conf.c `load_if_names` and `add_hostnames`, from
  SIOCGIFCONF, which lists IPv4 addresses only), then the sender's domain, canonified by
  ruleset 3 as the envelope sender is parsed (its `$[ $]` host map).
- Postfix and Exim, once a message bounces: the bounce (DSN) goes to the sender's domain,
  which they route like any other domain, in a process of their own (Postfix's bounce
  daemon hands it to cleanup and the queue manager, then to smtp; Exim starts a new
  process for the bounce message, src/exim/deliver.c `child_open_exim`).
- Sendmail, once a message bounces: the DSN is routed in the same process (savemail.c
  `returntosender`), the sender's domain already canonified.
- OpenSMTPD makes its bounce a message of its own (smtpd/bounce.c), queued a second or
  two after the failure and routed like any other: the MX of the sender's domain. When
  the scheduler expires a message, the caller asks it (`Profile.route_bounce`), as the
  retry cases do.

These questions are asked only when the sending host is described (`SendingHost`): the
agreement harness describes the host the real MTA runs on; `mxsim trace` describes none
by default, and then no MTA asks anything here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dns.name
import dns.rdatatype
import dns.reversename

from mxsim.mta.stub import StubAnswer
from mxsim.transport.base import Step

Lookup = Callable[[dns.name.Name, dns.rdatatype.RdataType], Step[StubAnswer]]


@dataclass(frozen=True, slots=True)
class SendingHost:
    """The host the MTA runs on, as far as the questions above depend on it.

    `name`: the host's name (it is in /etc/hosts with an IPv4 address, as Debian installs
    it, so only its IPv6 lookup reaches DNS). `sender`: the envelope sender, whose domain
    a bounce goes to. `interfaces`: every address on the host's interfaces, in interface
    order (as `ip addr show` lists them). `hosts_file`: the addresses /etc/hosts names,
    whose reverse lookups never reach DNS.
    """

    name: str
    sender: str
    interfaces: tuple[str, ...] = ()
    hosts_file: frozenset[str] = frozenset({"127.0.0.1", "::1"})

    @property
    def sender_domain(self) -> str | None:
        """The domain of the sender; None for the null sender or a bare local part."""
        _local, at, domain = self.sender.rpartition("@")
        return domain.rstrip(".").lower() or None if at else None


def own_name(lookup: Lookup, host: SendingHost, search: Iterable[dns.name.Name]) -> Step[None]:
    """The host name's IPv6 address, as glibc's res_search asks it: the name as it is,
    then with each search domain appended, until one has an address (sendmail/conf.c
    `sm_gethostbyname`, AF_INET6 first; AF_INET is then answered by /etc/hosts)."""
    name = dns.name.from_text(host.name)
    for candidate in (name, *search):
        answer = yield from lookup(candidate, dns.rdatatype.AAAA)
        if answer.records(dns.rdatatype.AAAA):
            return


def interface_names(lookup: Lookup, host: SendingHost) -> Step[None]:
    """The PTR of every IPv4 interface address that /etc/hosts does not name, in
    interface order (sendmail/conf.c `load_if_names`: SIOCGIFCONF lists IPv4 only; each
    address goes to `add_hostnames`, whose gethostbyaddr reads /etc/hosts first)."""
    for address in host.interfaces:
        if ipaddress.ip_address(address).version == 4 and address not in host.hosts_file:
            yield from lookup(dns.reversename.from_address(address), dns.rdatatype.PTR)
