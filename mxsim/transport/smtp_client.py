"""One SMTP probe conversation over a connected socket, with aiosmtplib.

Connect (greeting), EHLO, STARTTLS (the command and the TLS handshake) if asked and offered,
QUIT; never MAIL, RCPT or DATA.
A module of its own so that aiosmtplib (and the email and ssl modules it pulls in) load
only when a probe is made: `mxsim check --no-smtp` and DNS-only traces never pay for it.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable
from functools import cache

import aiosmtplib

from mxsim.transport.base import ConnectResult, Reply, SmtpProbe, SmtpSession


@cache
def _opportunistic() -> ssl.SSLContext:
    """One TLS client context for every probe, verifying nothing (as opportunistic senders do).

    aiosmtplib's default builds a context per connection and loads the system's CA store
    into it, which nothing here reads: with six hosts offering STARTTLS that was 0.4 s of
    CPU in a 1 s `mxsim check`, the handshakes themselves a few milliseconds.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def converse(sock: socket.socket, probe: SmtpProbe, greeting_timeout: float, command_timeout: float,
                   elapsed: Callable[[], float]) -> SmtpSession:
    """The conversation on `sock` (connected); `elapsed()` gives the engine's seconds so far."""
    client = aiosmtplib.SMTP(
        sock=sock, local_hostname=probe.helo, timeout=greeting_timeout,
        use_tls=False, start_tls=False, validate_certs=False,
    )
    try:
        return await _converse(client, probe, command_timeout, elapsed)
    finally:
        client.close()


async def _converse(client: aiosmtplib.SMTP, probe: SmtpProbe, command_timeout: float,
                    elapsed: Callable[[], float]) -> SmtpSession:
    connected = ConnectResult.CONNECTED
    try:
        greeting = await client.connect()
    except aiosmtplib.SMTPConnectResponseError as error:  # a 4xx/5xx greeting
        return SmtpSession(connected, elapsed(), greeting=Reply(error.code, error.message))
    except aiosmtplib.SMTPConnectTimeoutError:
        return SmtpSession(connected, elapsed(), greeting_timeout=True)
    except (aiosmtplib.SMTPException, OSError):
        return SmtpSession(connected, elapsed(), closed=True)
    greeted = Reply(greeting.code, greeting.message)
    ehlo: Reply | None = None
    offered = False
    try:
        response = await client.ehlo(hostname=probe.helo, timeout=command_timeout)
        ehlo = Reply(response.code, response.message.splitlines()[0] if response.message else "")
        offered = client.supports_extension("starttls")
    except aiosmtplib.SMTPResponseException as error:
        ehlo = Reply(error.code, error.message)
    except (aiosmtplib.SMTPException, OSError):
        pass  # the host went away after greeting: what was seen stands
    tls_version: str | None = None
    refused: Reply | None = None
    tls_error: str | None = None
    if probe.starttls and offered:
        # The whole upgrade, as a sender makes it: a host that offers STARTTLS and then
        # fails it is what a sender requiring TLS (MTA-STS, DANE) gives up on. Certificates
        # are not judged: opportunistic senders do not either.
        try:
            await client.starttls(validate_certs=False, tls_context=_opportunistic(), timeout=command_timeout)
            ssl_object = client.transport.get_extra_info("ssl_object") if client.transport else None
            tls_version = (ssl_object.version() if ssl_object is not None else None) or "TLS"
        except aiosmtplib.SMTPResponseException as error:
            refused = Reply(error.code, error.message)
        except (aiosmtplib.SMTPException, OSError) as error:  # ssl.SSLError is an OSError
            tls_error = f"{type(error).__name__}: {error}"
    took = elapsed()
    if tls_error is None:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.quit(timeout=command_timeout)
    return SmtpSession(connected, took, greeting=greeted, ehlo=ehlo, starttls_offered=offered,
                       tls_version=tls_version, starttls_refused=refused, tls_error=tls_error)
