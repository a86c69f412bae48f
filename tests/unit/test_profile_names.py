"""The profile names a command line lists without importing the profiles are the profiles'."""

from __future__ import annotations

from mxsim.mta import PROFILE_NAMES
from mxsim.mta.profiles import PROFILES


def test_the_listed_names_are_the_profiles_in_order() -> None:
    assert tuple(PROFILES) == PROFILE_NAMES
