"""A TLS server context for lab mail hosts whose `tls` is `handshake` (docs/scenario-format.md#hosts).

The certificate is self-signed and made when the lab starts (`openssl req`, an EC P-256
key valid for a day): senders and probes that STARTTLS opportunistically do not judge it,
as on the internet. The files live only as long as it takes to load them, in a private
folder, and the key file is the lab's own 0600 file before openssl writes the key into it.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

from mxsim.lab import files
from mxsim.lab.errors import LabError

OPENSSL_TIMEOUT = 30.0


def make_certificate(folder: Path, common_name: str = "mxsim-lab") -> tuple[Path, Path]:
    """A key (0600, whatever the umask) and a self-signed certificate in `folder`."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LabError("a host has `tls: handshake`, which needs the openssl command (apt-get install openssl)")
    key, cert = folder / "key.pem", folder / "cert.pem"
    files.write_file(key, b"", files.PRIVATE)  # openssl truncates and fills it; the mode stays
    done = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", f"/CN={common_name}", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, timeout=OPENSSL_TIMEOUT, check=False,
    )
    if done.returncode != 0:
        raise LabError(f"openssl could not make the lab's certificate: {done.stderr.strip()[-300:]}")
    return key, cert


def self_signed_context(common_name: str = "mxsim-lab") -> ssl.SSLContext:
    with tempfile.TemporaryDirectory(prefix="mxsim-lab-tls-") as name:
        folder = Path(name)
        os.chmod(folder, files.PRIVATE_FOLDER)  # mkdtemp asks for 0700; a umask could narrow it
        key, cert = make_certificate(folder, common_name)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    return context
