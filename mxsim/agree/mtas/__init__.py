"""Drivers for the four real MTAs, by mxsim profile name."""

from __future__ import annotations

from mxsim.agree.errors import AgreeError
from mxsim.agree.mtas.base import Driver
from mxsim.agree.mtas.exim import Exim
from mxsim.agree.mtas.opensmtpd import OpenSmtpd
from mxsim.agree.mtas.postfix import Postfix
from mxsim.agree.mtas.postfix_sts import PostfixSts
from mxsim.agree.mtas.sendmail import Sendmail

DRIVERS: dict[str, type[Driver]] = {
    "postfix": Postfix, "exim": Exim, "opensmtpd": OpenSmtpd, "sendmail": Sendmail, "postfix-sts": PostfixSts,
}
NAMES = ("postfix", "exim", "opensmtpd", "sendmail")  # every bundled scenario runs under these



def driver(name: str) -> Driver:
    try:
        return DRIVERS[name.lower()]()
    except KeyError:
        raise AgreeError(
            f"no real-MTA driver for {name!r} (have: {', '.join(sorted(DRIVERS))})"
        ) from None
