"""A finding: a catalogue entry with its arguments filled and the evidence it rests on."""

from __future__ import annotations

from dataclasses import dataclass

from mxsim.audit.catalog import CATALOG, FindingSpec, Level


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one finding rests on: always the server address and the backend behind it."""

    address: str  # a name server address, or a mail host address for SMTP findings
    server: str = ""  # the name server name(s) at that address, or the mail host's name
    backend: str = ""  # NSID, or a fingerprint (fp-XXXXXX) when the server sends none
    query: str = ""  # e.g. "wa-students.org MX, RD clear"
    share: float | None = None  # the share of replies (of that address and query) that showed it
    detail: str = ""  # what was seen, e.g. the answer's records

    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.address, self.backend, self.query, self.detail)


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    args: tuple[tuple[str, str], ...]  # in the catalogue's argument order
    evidence: tuple[Evidence, ...] = ()

    @property
    def spec(self) -> FindingSpec:
        return CATALOG[self.id]

    @property
    def level(self) -> Level:
        return self.spec.level

    @property
    def message(self) -> str:
        return self.spec.template.format(**dict(self.args))

    def sort_key(self) -> tuple[int, str, str]:
        return (-int(self.level), self.id, self.message)


class FindingArgumentError(ValueError):
    """Code built a finding whose arguments differ from its catalogue entry's."""


def finding(id: str, evidence: list[Evidence] | tuple[Evidence, ...] = (), **args: object) -> Finding:
    """Build a finding; its arguments must be exactly the catalogue's (a bug otherwise)."""
    spec = CATALOG.get(id)
    if spec is None:
        raise FindingArgumentError(f"{id} is not in the finding catalogue")
    if set(args) != set(spec.args):
        raise FindingArgumentError(f"{id} takes {', '.join(spec.args)}; got {', '.join(sorted(args))}")
    ordered = tuple((name, str(args[name])) for name in spec.args)
    return Finding(id, ordered, tuple(sorted(evidence, key=Evidence.sort_key)))


def pct(share: float) -> str:
    """A share as the reports show it: whole percent, never "0%" for something seen."""
    if 0 < share < 0.005:
        return "<1%"
    return f"{share:.0%}"
