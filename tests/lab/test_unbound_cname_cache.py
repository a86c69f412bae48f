"""Real unbound over a weighted farm: a CNAME cached by one question answers the others.

After a broken MX answer (a CNAME at the domain) Exim asks AAAA and A at the domain.
unbound logs those replies with its "from cache" field 0 (every reply the iterator
sends through the mesh is logged so, services/mesh.c `mesh_send_reply`), but the
iterator builds them from the CNAME in its RRset cache (services/cache/dns.c
`dns_cache_lookup`) and asks the farm nothing: one backend draw per cache epoch, which
is what the model's resolver does (mxsim/resolver/cache.py). Held here through the
lab's own draw sequence: if AAAA or A reached the farm, the next epoch's MX answer
would be a later draw than the second.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from tests.lab.tools import lab, require_root, require_tool

pytestmark = pytest.mark.lab

FARM = Path(__file__).resolve().parents[1] / "agreement/stochastic/farm-half-broken.yaml"
NS1 = "192.0.2.53"  # the farm's address in the scenario
BACKENDS, WEIGHTS = ("good1", "broken"), (1, 1)
TTL = 2


def _draws(seed: int, count: int) -> list[str]:
    """The lab's backend draws at the farm's address (mxsim/lab/dns_server.py: one stream per address)."""
    rng = random.Random(f"mxsim-lab:{seed}:{NS1}")
    return [rng.choices(BACKENDS, weights=WEIGHTS)[0] for _ in range(count)]


def _cname(response: dns.message.Message) -> str | None:
    found = [r[0].target.to_text() for r in response.answer if r.rdtype == dns.rdatatype.CNAME]
    return found[0] if found else None


def test_unbound_answers_a_and_aaaa_from_the_cname_an_mx_question_cached(tmp_path: Path) -> None:
    require_root("unbound on port 53")
    require_tool("unbound", "unbound")
    # A seed whose first draw is broken and whose second and fourth differ: the second
    # MX answer tells whether AAAA and A at the domain drew from the farm in between.
    seed = next(s for s in range(1000) if (d := _draws(s, 4))[0] == "broken" and d[1] != d[3])
    second = _draws(seed, 4)[1]
    with lab(FARM, tmp_path / "lab", dns_port=53, resolver="unbound", seed=seed) as info:
        assert info.resolver is not None
        address, port = info.resolver

        def ask(qtype: str) -> dns.message.Message:
            query = dns.message.make_query("example.org", qtype)
            return dns.query.udp(query, address, port=port, timeout=5)

        start = time.time()
        assert _cname(ask("MX")) == "web.example.com."
        assert _cname(ask("AAAA")) == "web.example.com."
        answered = ask("A")
        assert _cname(answered) == "web.example.com."
        assert any(r.rdtype == dns.rdatatype.A for r in answered.answer)
        assert time.time() < int(start) + TTL, "the three questions must fall in one cache epoch"
        # unbound serves an entry fetched in second s through second s + TTL.
        time.sleep(max(0.0, int(start) + TTL + 1.2 - time.time()))
        again = ask("MX")
    broken = _cname(again) == "web.example.com."
    assert broken == (second == "broken"), f"the second MX answer was not the farm's second draw ({second})"
