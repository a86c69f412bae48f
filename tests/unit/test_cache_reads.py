"""The resolver cache read by a name's key, the time an entry lives, bounded identity
memos, and query evidence that compares by what was seen."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from mxsim.memo import IdentityMemo
from mxsim.names import key
from mxsim.resolver.cache import Cache, Negative
from mxsim.resolver.policy import PolicyCache
from mxsim.resolver.recursive import Upstream
from mxsim.scenario.resolver_kinds import CachePolicy
from mxsim.transport.base import DnsReply

A = dns.rdatatype.A
NAME = dns.name.from_text("Mail.Example.org.")


def _rrset(ttl: int = 60) -> dns.rrset.RRset:
    return dns.rrset.from_text(NAME, ttl, "IN", "A", "192.0.2.25")


def test_a_read_by_key_is_the_read_by_name_to_the_last_second() -> None:
    cache = Cache()
    cache.put(_rrset(60), 100.7)  # fetched in second 100: served through second 160
    lower = dns.name.from_text("mail.example.org.")
    for now in (100.7, 130.2, 160.9):
        by_name, by_key = cache.get(lower, A, now), cache.get_at((key(NAME), A), now)
        assert by_name is not None and by_key is not None
        assert by_name == by_key and by_name.ttl == by_key.ttl == 160 - int(now)
        assert cache.peek(lower, A, now) is cache.peek_at((key(lower), A), now)
    assert cache.get_at((key(NAME), A), 161.0) is None
    assert cache.peek(NAME, A, 150.0) is None  # the expired entry was dropped on the way


def test_a_negative_answer_read_by_key_is_the_one_read_by_name() -> None:
    cache = Cache()
    soa = dns.rrset.from_text("example.org.", 30, "IN", "SOA", "ns1.example.org. h.example.org. 1 2 3 4 30")
    cache.put_negative(NAME, A, Negative(dns.rcode.NOERROR, soa), 10.0)
    by_name, by_key = cache.get_negative(NAME, A, 25.0), cache.negative_at(key(NAME), A, 25.0)
    assert by_name is not None and by_key is not None
    assert by_name.rcode == by_key.rcode == dns.rcode.NOERROR
    assert by_name.soa is not None and by_key.soa is not None and by_name.soa.ttl == by_key.soa.ttl == 15
    assert cache.negative_at(key(NAME), A, 41.0) is None


def test_a_ttl_bound_applied_after_the_fact_moves_the_last_second() -> None:
    cache = PolicyCache(CachePolicy(min_ttl=0, max_ttl=20))
    cache.put(_rrset(60), 100.0)  # clamped to 20 s as it is stored
    assert cache.peek(NAME, A, 120.0) is not None
    assert cache.peek(NAME, A, 121.0) is None


def test_a_full_identity_memo_forgets_everything_and_goes_on() -> None:
    memo: IdentityMemo[int] = IdentityMemo(3)
    kept = [object() for _ in range(4)]
    for number, thing in enumerate(kept[:3]):
        memo.put(thing, number)
    assert [memo.get(thing) for thing in kept[:3]] == [0, 1, 2]
    memo.put(kept[3], 3)  # the fourth: the three before are forgotten at once
    assert [memo.get(thing) for thing in kept] == [None, None, None, 3]
    assert memo.get(object()) is None


def _reply(query_id: int, rcode: dns.rcode.Rcode = dns.rcode.NOERROR) -> dns.message.Message:
    query = dns.message.make_query(NAME, A)
    query.id = query_id
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    reply.flags |= dns.flags.AA
    reply.answer.append(_rrset())
    return reply


def _upstream(reply: dns.message.Message | None) -> Upstream:
    return Upstream(1.0, "192.0.2.53", NAME, None, None, NAME, A, False, None, reply)


def test_query_evidence_is_equal_when_it_says_the_same_whatever_the_reply_id() -> None:
    first, second = _upstream(_reply(1)), _upstream(_reply(2))
    assert first == second
    assert first.rcode == dns.rcode.NOERROR and first.aa and first.answer == ("Mail.Example.org. 60 IN A 192.0.2.25",)
    assert first != _upstream(_reply(1, dns.rcode.SERVFAIL))
    assert first != _upstream(None)
    assert _upstream(None).rcode is None and not _upstream(None).aa and _upstream(None).answer_rrsets == ()


def test_only_a_reply_written_over_a_live_one_counts_as_rewritten() -> None:
    """A walk of a remembered attempt trusts answers in a row for as long as they live,
    unless this count moves (mxsim/mta/attempt_memo.py, `Lease`)."""
    cache = Cache()
    reply = DnsReply(dns.rcode.NOERROR, (_rrset(60),))
    cache.put_message(NAME, A, reply, 100.0)  # nothing there before
    cache.put_message(NAME, A, reply, 161.0)  # over an answer that died at the end of second 160
    assert cache.rewritten == 0
    cache.put_message(NAME, A, reply, 200.5)  # over one alive until second 221
    assert cache.rewritten == 1
    cache.clear()
    assert cache.rewritten == 2
