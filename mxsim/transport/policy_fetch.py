"""An MTA-STS policy fetch over real HTTPS (RFC 8461 section 3.3), mapped once onto `FetchStatus`.

What postfix-mta-sts-resolver's fetch does, in the few lines a sender needs: connect to
port 443 of the policy host's address, TLS with the host name checked against the trust
given (the lab's CA file, or the system's), `GET /.well-known/mta-sts.txt`, no redirects
followed, only a 200 with `text/plain` counts (resolver.py `STSResolver.resolve`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

from mxsim.transport.base import FetchStatus, PolicyFetch, PolicyReply

MAX_POLICY_BYTES = 64 * 1024  # RFC 8461 section 3.3: senders MAY cap the policy's size at 64 KiB


def trust(ca_file: Path | None) -> ssl.SSLContext:
    """A client context that verifies the host name against `ca_file` (or the system store)."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 8461 section 3.3: TLS 1.2 or later
    return context


async def fetch_policy(fetch: PolicyFetch, where: str, context: ssl.SSLContext, port: int = 443) -> PolicyReply:
    """Fetch the policy of `fetch.domain` from `where` (an address); never raises for the network."""
    started = time.monotonic()
    host = f"mta-sts.{fetch.domain}"

    def took() -> float:
        return time.monotonic() - started

    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(where, port, ssl=context, server_hostname=host), fetch.timeout)
    except ssl.SSLError:
        return PolicyReply(FetchStatus.TLS_ERROR, took())
    except TimeoutError:
        return PolicyReply(FetchStatus.TIMEOUT, fetch.timeout)
    except OSError:
        return PolicyReply(FetchStatus.REFUSED, took())
    try:
        request = f"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("ascii"))
        body = await asyncio.wait_for(reader.read(MAX_POLICY_BYTES + 4096), max(fetch.timeout - took(), 0.001))
    except TimeoutError:
        return PolicyReply(FetchStatus.TIMEOUT, fetch.timeout)
    except (OSError, ssl.SSLError):
        return PolicyReply(FetchStatus.TLS_ERROR, took())
    finally:
        writer.close()
    head, _, text = body.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    plain = headers.get("content-type", "").lower().partition(";")[0].strip() == "text/plain"
    if len(status) < 2 or status[1] != "200" or not plain:
        return PolicyReply(FetchStatus.NOT_FOUND, took())
    return PolicyReply(FetchStatus.OK, took(), text.decode("utf-8", "replace"))
