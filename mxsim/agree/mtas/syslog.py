"""A tiny syslog receiver on the chroot's /dev/log, for MTAs that log only through syslog."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from pathlib import Path

PRIORITY = re.compile(rb"^<\d{1,3}>")


class SyslogSink:
    """Receive datagrams on `root/dev/log`, write them one per line to `out` (no priority)."""

    def __init__(self, root: Path, out: Path) -> None:
        self.path = root / "dev/log"
        self.out = out
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="syslog-sink", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with self.out.open("ab", buffering=0) as out:
            while not self.stopping.is_set():
                try:
                    data = self.sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                out.write(PRIORITY.sub(b"", data).rstrip(b"\0\n") + b"\n")

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=2)
        self.sock.close()
