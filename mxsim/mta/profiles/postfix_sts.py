"""Postfix 3.7 with Debian's postfix-mta-sts-resolver 1.1.2: MTA-STS through smtp_tls_policy_maps.

Postfix asks the resolver's socketmap (`smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix`)
for the next-hop domain's TLS policy once it has the MX hosts. The resolver answers from its
cache by its own rules (mta/sts.py, `CacheRule.RESOLVER`): for an `enforce` policy (or a
`testing` one with `strict_testing`) `OK secure match=<patterns> servername=hostname`, where
each pattern is the policy's `mx` with a leading `*` dropped (`*.example.org` becomes
`.example.org`, which Postfix matches at any depth); otherwise `NOTFOUND`, and Postfix goes on
with Debian's `smtp_tls_security_level = may`. With `secure`, Postfix connects to each MX
host in its usual order and requires STARTTLS and a certificate that its CA store trusts
and whose names match a pattern; a host that fails is given up for this delivery and the
next is tried. Sources: postfix-mta-sts-resolver responder.py, resolver.py, defaults.py,
utils.py `populate_cfg_defaults`; Postfix smtp_proto.c `smtp_start_tls`, tls_verify.c
(docs/mta-behaviour.md#mta-sts).
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, Final

import dns.name

from mxsim.mta.params import Kind, Param
from mxsim.mta.profiles.base import Context
from mxsim.mta.profiles.postfix import Postfix
from mxsim.mta.results import Attempt, AttemptResult, Delivery, MatchRule, Route, TlsRequirement
from mxsim.mta.sts import CacheRule, current_policy, enforced
from mxsim.transport.base import Step

_WHERE: Final = "{host}[{address}]"
FETCH_PREFIX: Final = "postfix-mta-sts-resolver: policy fetched: "  # a fetch, in the log the model writes
# smtp_proto.c: the reasons a `secure` session ends before MAIL FROM.
TLS_WORDS: Final = {
    "not-offered": f"TLS is required, but was not offered by host {_WHERE}",
    "refused": f"TLS is required, but host {_WHERE} refused to start TLS: {{line}}",
    "handshake": f"Cannot start TLS: handshake failure with {_WHERE}",
    "certificate": "Server certificate not verified",
}


class PostfixSts(Postfix):
    name = "postfix-sts"
    title = "Postfix + MTA-STS"
    version = "Postfix 3.7 with postfix-mta-sts-resolver 1.1.2 (Debian bookworm defaults)"
    TLS_WORDS = TLS_WORDS
    PARAMS: ClassVar[tuple[Param, ...]] = (
        *Postfix.PARAMS,
        Param("cache_grace", Kind.DURATION, 60.0, "seconds a cached policy is used before its TXT is looked at again",
              "postfix-mta-sts-resolver defaults.py CACHE_GRACE; responder.py is_stale"),
        Param("strict_testing", Kind.BOOL, False, "enforce testing-mode policies too",
              "postfix-mta-sts-resolver defaults.py STRICT_TESTING; responder.py process_request"),
        Param("timeout", Kind.DURATION, 4.0, "DNS and HTTPS timeout of a policy fetch",
              "postfix-mta-sts-resolver defaults.py TIMEOUT (default_zone.timeout)"),
        Param("require_sni", Kind.BOOL, True, "add servername=hostname to the policy (SNI with the MX name)",
              "postfix-mta-sts-resolver defaults.py REQUIRE_SNI"),
    )

    def route(self, ctx: Context, domain: dns.name.Name) -> Step[Route]:
        route = yield from super().route(ctx, domain)
        if route.failure is not None or not route.targets:
            return route
        cache = ctx.policies()
        found = yield from current_policy(ctx.lookup, domain, cache, ctx.stub.now, CacheRule.RESOLVER,
                                          grace=self.settings.seconds("cache_grace"),
                                          timeout=self.settings.seconds("timeout"))
        route = replace(route, policy_fetches=found.fetches)
        if not enforced(found.policy, self.settings.flag("strict_testing")):
            return route
        assert found.policy is not None
        patterns = tuple(sorted({mx.lstrip("*") for mx in found.policy.mx}))
        requirement = TlsRequirement(patterns, rule=MatchRule.POSTFIX)
        return replace(route, targets=tuple(replace(t, tls=requirement) for t in route.targets))

    def log_lines(self, delivery: Delivery, queue_id: str) -> tuple[str, ...]:
        """Postfix's lines, with tls_client.c's line for each host whose certificate failed, then
        the resolver's policy fetches (the lab's endpoint logs the same)."""
        lines = super().log_lines(delivery, queue_id)
        prefix = lines[-1][:lines[-1].index(": ") + 2]
        unverified = tuple(
            prefix + f"server certificate verification failed for {a.host}[{a.address}]:25: num=62:hostname mismatch"
            for a in delivery.attempts if a.result == AttemptResult.TLS_FAILED and a.reason == TLS_WORDS["certificate"])
        fetched = tuple(FETCH_PREFIX + url for url in delivery.route.policy_fetches)
        return (*unverified, *lines, *fetched)

    def deferral_dsn(self, attempt: Attempt) -> str:
        if attempt.result == AttemptResult.TLS_FAILED:
            return "4.7.4" if attempt.reason.startswith("TLS is required") else "4.7.5"
        return super().deferral_dsn(attempt)
