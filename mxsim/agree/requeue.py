"""Each real MTA's own command for "run the queue now", as its operator would type it.

A retry case forces the queue run instead of waiting for the MTA's schedule: the world
has already changed, and the retry must come now, not in 5 to 15 minutes.

* Postfix: `postqueue -f` ("flush the queue: attempt to deliver all queued mail",
  postqueue(1)); it also tells the queue manager to forget dead destinations
  (`QMGR_REQ_FLUSH_DEAD`, src/global/mail_flush.c, src/qmgr/qmgr.c).
* Exim: `exim4 -qff` (a queue run in the foreground that ignores retry times and
  frozen states, exim(8) `-qf`, `-qff`; the spec's "Forced delivery").
* OpenSMTPD: `smtpctl schedule all` (smtpctl(8): "mark all envelopes for immediate
  delivery").
* Sendmail: `sendmail -q -v` (a queue run in the foreground, sendmail(8) `-q`), with the
  same `-O` options and `-d16.1` as the first attempt, so the transcript names each host.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from mxsim.agree.errors import AgreeError
from mxsim.agree.mtas.base import Driver, chroot_argv, chroot_run

QUEUE_RUN_TIMEOUT = 120.0


def queue_run_argv(mta: Driver) -> list[str]:
    """The command line of one forced queue run."""
    if mta.name == "postfix":
        return ["postqueue", "-f"]
    if mta.name == "exim":
        return ["exim4", "-qff"]
    if mta.name == "opensmtpd":
        return ["smtpctl", "schedule", "all"]
    if mta.name == "sendmail":
        options = tuple(getattr(mta, "options", ()))
        return ["/usr/sbin/sendmail", "-q", "-v", "-d16.1", *options]
    raise AgreeError(f"no queue run known for {mta.name}")


def run_queue(mta: Driver, root: Path, folder: Path) -> None:
    """Force one queue run; Sendmail's transcript goes where its driver reads it."""
    argv = queue_run_argv(mta)
    if mta.name != "sendmail":
        chroot_run(root, argv, what=" ".join(argv), timeout=QUEUE_RUN_TIMEOUT, check=mta.name != "exim")
        return
    transcript = folder / "transcript"
    if transcript.exists():
        transcript.rename(folder / "transcript.first")
    with transcript.open("wb") as out:
        try:
            subprocess.run(chroot_argv(root, argv), stdin=subprocess.DEVNULL, stdout=out,
                           stderr=subprocess.STDOUT, timeout=QUEUE_RUN_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as error:
            raise AgreeError(f"sendmail -q ran over {QUEUE_RUN_TIMEOUT:g} s") from error


def queue_files(mta: Driver, root: Path) -> dict[str, str]:
    """The queue files of the one message (path inside the chroot -> text), as evidence."""
    places = {"postfix": "var/spool/postfix/deferred", "exim": "var/spool/exim4/input",
              "sendmail": "var/spool/mqueue", "opensmtpd": "var/spool/smtpd/queue"}
    base = root / places.get(mta.name, "nonexistent")
    out: dict[str, str] = {}
    if not base.is_dir():
        return out
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        if mta.name == "postfix":
            text = chroot_run(root, ["postcat", "-e", "/" + str(path.relative_to(root))],
                              what="postcat", check=False).stdout
        else:
            text = path.read_bytes()[:8000].decode(errors="replace")
        out[str(path.relative_to(root))] = text
    return out
