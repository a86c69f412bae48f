"""The probe's TLS client context: made once, and with nothing loaded that it never reads."""

from __future__ import annotations

import ssl

from mxsim.transport.smtp_client import _opportunistic


def test_one_context_for_every_probe_verifying_nothing_and_loading_no_ca_store() -> None:
    context = _opportunistic()
    assert context is _opportunistic()
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    # aiosmtplib's own default loads the system's CA store per connection: 0.4 s of CPU
    # for six STARTTLS hosts in a 1 s check.
    assert context.cert_store_stats()["x509_ca"] == 0
