"""The `resolver.server_choice` setting: its own module, so that the resolver loads
without the whole scenario format (a live `mxsim check` needs the one, not the other)."""

from enum import StrEnum


class ServerChoice(StrEnum):
    """How the recursive resolver picks among the addresses of an NS set."""

    RANDOM = "random"
    FIRST = "first"
    SRTT = "srtt"  # unbound's: random among those within 400 ms of the fastest
