"""Postfix 3.7 with Debian's postfix-mta-sts-resolver 1.1.2 in a chroot, trusting the lab's CA.

The resolver daemon (`mta-sts-daemon`, its configuration in /etc/mta-sts-daemon.yml by its own
names) listens on 127.0.0.1:8461 in the lab's namespace; Postfix asks it through
`smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix`. The lab CA (the lab's
`lab-ca.pem`) goes into the chroot's CA store with update-ca-certificates, so the resolver's
HTTPS fetch (aiohttp, the system store) and Postfix's certificate checks (`smtp_tls_CApath`,
Debian's /etc/ssl/certs) both trust the lab. The policy fetches the lab's endpoints saw are
added to the log as `FETCH_PREFIX` lines, in the same words the model's log uses.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from mxsim.agree.chroots import ChrootSpec
from mxsim.agree.errors import AgreeError
from mxsim.agree.mtas.base import Parsed, chroot_argv, chroot_run
from mxsim.agree.mtas.postfix import Postfix
from mxsim.lab import state
from mxsim.mta.profiles.postfix_sts import FETCH_PREFIX

# The resolver's own configuration names (postfix-mta-sts-resolver utils.py populate_cfg_defaults).
RESOLVER_KEYS = ("cache_grace", "strict_testing", "timeout", "require_sni")
POLICY_PATH = "/.well-known/mta-sts.txt"
STARTUP = 20.0  # seconds for the daemon to listen
STATS_SETTLE = 1.5  # the lab writes its stats (the HTTPS requests) every second


def fetch_line(url: str) -> str:
    return FETCH_PREFIX + url


def _seconds(value: str) -> float:
    from mxsim.units import parse_duration

    return parse_duration(value)


class PostfixSts(Postfix):
    name = "postfix-sts"
    chroot = ChrootSpec("postfix-sts", ("postfix", "postfix-mta-sts-resolver", "ca-certificates"),
                        "postfix-mta-sts-resolver")
    shared: ClassVar[Mapping[str, str]] = {**Postfix.shared}

    def __init__(self) -> None:
        self._outcome_at: float | None = None

    def prepare(self, root: Path, settings: Mapping[str, str], mta_config: Path | None) -> None:
        postfix = {k: v for k, v in settings.items() if k not in RESOLVER_KEYS}
        postfix["smtp_tls_policy_maps"] = "socketmap:inet:127.0.0.1:8461:postfix"
        postfix["smtp_tls_loglevel"] = "1"  # evidence: "Verified TLS connection established to ..."
        super().prepare(root, postfix, mta_config)
        zone: dict[str, object] = {}
        for key in RESOLVER_KEYS:
            if key in settings:
                value = settings[key]
                zone[key] = value.lower() in ("yes", "true", "1") if key in ("strict_testing", "require_sni") \
                    else _seconds(value)
        grace = zone.pop("cache_grace", None)
        config: dict[str, object] = {"host": "127.0.0.1", "port": 8461, "cache": {"type": "internal"},
                                     "default_zone": zone}
        if grace is not None:
            config["cache_grace"] = grace
        (root / "etc/mta-sts-daemon.yml").write_text(json.dumps(config) + "\n")  # JSON is YAML

    def start(self, root: Path, folder: Path) -> None:
        ca = folder / "lab" / state.LAB_CA
        if not ca.is_file():
            raise AgreeError(f"the lab made no CA ({ca}): does the scenario have mta_sts?")
        shutil.copyfile(ca, root / "usr/local/share/ca-certificates/mxsim-lab.crt")
        chroot_run(root, ["update-ca-certificates"], what="update-ca-certificates")
        log = (folder / "mta-sts-daemon.log").open("wb")
        subprocess.Popen(chroot_argv(root, ["mta-sts-daemon", "-c", "/etc/mta-sts-daemon.yml", "-v", "info"]),
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + STARTUP
        probe = "import socket; socket.create_connection(('127.0.0.1', 8461), 1).close()"
        while chroot_run(root, ["python3", "-c", probe], check=False, what="resolver probe").returncode != 0:
            if time.monotonic() > deadline:
                tail = (folder / "mta-sts-daemon.log").read_text(errors="replace")[-400:]
                raise AgreeError(f"mta-sts-daemon did not listen within {STARTUP:g} s: {tail}")
            time.sleep(0.2)
        super().start(root, folder)

    def log_lines(self, root: Path, folder: Path) -> list[str]:
        lines = super().log_lines(root, folder)
        try:
            stats = json.loads((folder / "lab" / state.STATS).read_text())
        except (OSError, ValueError):
            return lines
        for request in stats.get("https", []):  # a request that never got a path (timeout, TLS) is one too
            lines.append(fetch_line(f"https://mta-sts.{request['domain']}{request['path'] or POLICY_PATH}"))
        return lines

    def finished(self, lines: Sequence[str], recipient: str) -> bool:
        """The outcome, then long enough for the lab's stats to hold the fetches made before it."""
        if not super().finished(lines, recipient):
            return False
        if self._outcome_at is None:
            self._outcome_at = time.monotonic()
        return time.monotonic() - self._outcome_at >= STATS_SETTLE

    def parse(self, lines: Sequence[str], recipient: str) -> Parsed:
        parsed = super().parse([line for line in lines if not line.startswith(FETCH_PREFIX)], recipient)
        parsed.evidence += [line for line in lines if line.startswith(FETCH_PREFIX)]
        return parsed
