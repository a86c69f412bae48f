"""The MTA profiles by name: each MTA's rule for each step of profiles/base.py, and plain RFC 5321."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from mxsim.mta import PROFILE_NAMES, check_profile_name
from mxsim.mta.profiles.base import Profile
from mxsim.mta.profiles.exim import Exim
from mxsim.mta.profiles.opensmtpd import OpenSmtpd
from mxsim.mta.profiles.postfix import Postfix
from mxsim.mta.profiles.postfix_sts import PostfixSts
from mxsim.mta.profiles.rfc5321 import Rfc5321
from mxsim.mta.profiles.sendmail import Sendmail

PROFILES: Final[dict[str, type[Profile]]] = {
    cls.name: cls for cls in (Postfix, Exim, OpenSmtpd, Sendmail, Rfc5321, PostfixSts)
}
NAMES: Final = PROFILE_NAMES  # tests/unit/test_profile_names.py: the same names, in the same order


def make_profile(name: str, overrides: Mapping[str, str] | None = None) -> Profile:
    return PROFILES[check_profile_name(name)](overrides)


__all__ = ["NAMES", "PROFILES", "Profile", "make_profile"]
