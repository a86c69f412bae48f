"""One SMTP probe conversation over a connected socket, with aiosmtplib.

Connect (greeting), EHLO, STARTTLS if asked and offered, QUIT; never MAIL, RCPT or DATA.
A module of its own so that aiosmtplib (and the email and ssl modules it pulls in) load
only when a probe is made: `mxsim check --no-smtp` and DNS-only traces never pay for it.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

import aiosmtplib

from mxsim.transport.base import ConnectResult, Reply, SmtpProbe, SmtpSession


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
    if probe.starttls and offered:
        # The command only: the lab has no certificates (it answers 454), and a probe
        # never needs the handshake to learn that STARTTLS is offered.
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.execute_command(b"STARTTLS", timeout=command_timeout)
    took = elapsed()
    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
        await client.quit(timeout=command_timeout)
    return SmtpSession(connected, took, greeting=greeted, ehlo=ehlo, starttls_offered=offered)
