"""MTAs: profiles of real MTAs' routing rules, and one delivery attempt under them.

The names below are kept here, apart from the profiles, so that a command line can list
and check them without importing the profiles (`mxsim check` starts its probes sooner).
"""

from difflib import get_close_matches

from mxsim.errors import UsageError

PROFILE_NAMES = ("postfix", "exim", "opensmtpd", "sendmail", "rfc5321", "postfix-sts")
HELO_NAME = "mxsim.invalid"  # what mxsim says in EHLO: RFC 6761 .invalid, never a real host


def check_profile_name(name: str) -> str:
    """The profile's name as known (lower case), or a UsageError with the closest one."""
    if name.lower() in PROFILE_NAMES:
        return name.lower()
    hint = get_close_matches(name.lower(), PROFILE_NAMES, n=1)
    did_you_mean = f" (did you mean {hint[0]}?)" if hint else ""
    raise UsageError(f"unknown MTA {name!r}{did_you_mean}; known: {', '.join(PROFILE_NAMES)}")
