"""The MTA profiles by name. Each is the RFC 5321 base plus what that MTA does differently."""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches

from mxsim.errors import UsageError
from mxsim.mta.profiles.base import Profile
from mxsim.mta.profiles.exim import Exim
from mxsim.mta.profiles.opensmtpd import OpenSmtpd
from mxsim.mta.profiles.postfix import Postfix
from mxsim.mta.profiles.sendmail import Sendmail

PROFILES: dict[str, type[Profile]] = {
    cls.name: cls for cls in (Postfix, Exim, OpenSmtpd, Sendmail, Profile)
}
NAMES = tuple(PROFILES)


def make_profile(name: str, overrides: Mapping[str, str] | None = None) -> Profile:
    cls = PROFILES.get(name.lower())
    if cls is None:
        hint = get_close_matches(name.lower(), NAMES, n=1)
        did_you_mean = f" (did you mean {hint[0]}?)" if hint else ""
        raise UsageError(f"unknown MTA {name!r}{did_you_mean}; known: {', '.join(NAMES)}")
    return cls(overrides)


__all__ = ["NAMES", "PROFILES", "Profile", "make_profile"]
