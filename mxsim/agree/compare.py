"""The model's view of the same case, and the field-by-field comparison with a readable diff.

Rules (the table in docs/agreement.md#what-is-compared): DNS questions compare as a
sequence, except that the address questions for MX hosts of one preference form a
multiset (equal preferences are shuffled); hosts tried compare as sets within one
preference level, and where the model tried only some of a level (an address limit) as
counts and results, with every real address drawn from that level; then the envelope
recipient, the outcome, the DSN class, the names logged.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdatatype
import dns.reversename

from mxsim.agree.mtas import driver
from mxsim.agree.mtas.base import HOSTNAME, SENDER, SENDER_DOMAIN
from mxsim.agree.observation import Observation, Question, Try
from mxsim.commands.trace import TraceConfig, run_trace
from mxsim.engine import recipient_of
from mxsim.mta.host_questions import SendingHost
from mxsim.mta.params import read_main_cf
from mxsim.mta.profiles import PROFILES
from mxsim.report.trace_json import delivery_json
from mxsim.scenario import ScenarioSpec, load_scenario

FIELDS = ("dns", "attempts", "envelope_recipient", "outcome", "dsn_class", "logged_names")


@dataclass(frozen=True, slots=True)
class FieldResult:
    name: str
    agreed: bool
    model: str
    real: str
    diff: tuple[str, ...] = ()
    compared: bool = True  # False: the real side could not observe this field


@dataclass(slots=True)
class Comparison:
    label: str
    model: Observation
    real: Observation
    fields: list[FieldResult] = field(default_factory=list)
    # preference level of each real address and host name, from the model's route
    levels: dict[str, int] = field(default_factory=dict)

    @property
    def agreed(self) -> bool:
        return all(f.agreed for f in self.fields)

    def differing(self) -> list[FieldResult]:
        return [f for f in self.fields if not f.agreed]

    def render(self, *, evidence: bool = True) -> str:
        head = "AGREED" if self.agreed else "DIFFERS"
        lines = [f"{self.label}: {head} ({self.real.version}, {self.real.seconds:g} s)"]
        for result in self.fields:
            mark = "ok  " if result.agreed else "DIFF"
            if not result.compared:
                mark = "n/a "
            lines.append(f"  {mark} {result.name}: model {result.model} | real {result.real}")
            lines += [f"         {line}" for line in result.diff]
        if evidence and not self.agreed:
            lines.append("  real MTA log (addresses mapped back to the scenario's):")
            lines += [f"    {line}" for line in self.real.evidence]
        lines += [f"  note: {note}" for note in self.real.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label, "agreed": self.agreed, "version": self.real.version,
            "fields": [
                {"name": f.name, "agreed": f.agreed, "compared": f.compared, "model": f.model,
                 "real": f.real, "diff": list(f.diff)} for f in self.fields
            ],
            "model": self.model.to_json(), "real": self.real.to_json(),
        }


def model_observation(
    scenario: str, pins: Sequence[str], mta: str, recipient: str | None,
    overrides: Mapping[str, str], mta_config: Path | None = None, host: SendingHost | None = None,
) -> tuple[Observation, Levels]:
    """`mxsim trace` for one profile with the same settings, as an Observation; `host`
    describes the host the real MTA ran on (its questions about itself and the sender)."""
    spec = load_scenario(scenario)
    chosen: dict[str, str] = {}
    if mta_config is not None and mta == "postfix":
        known = [p.name for p in PROFILES["postfix"].PARAMS]
        chosen.update(read_main_cf(mta_config, known))
    known_here = {p.name for p in PROFILES[mta].PARAMS}
    if "search_domains" in known_here:
        # The real MTA's stub library searches the domain of the worker's host name
        # (its resolv.conf names none): the model is told the same.
        chosen["search_domains"] = SENDER_DOMAIN
    chosen.update({k: v for k, v in overrides.items() if k in known_here})
    result = run_trace(TraceConfig(
        spec=spec, mtas=(mta,), recipient=recipient_of(spec, recipient),
        overrides={f"{mta}:{k}": v for k, v in chosen.items()}, pins=tuple(pins), host=host,
    ))
    data = delivery_json(result.deliveries[0])
    parsed = driver(mta).parse(list(data["log"]), str(data["recipient"]))
    observation = Observation(
        mta=mta, version=str(data["mta_version"]),
        dns=[Question(_name(q["qname"]), str(q["qtype"]), q.get("rcode")) for q in data["dns"]],
        attempts=[Try(str(a["host"]).rstrip(".").lower(), str(a["address"]), str(a["result"]))
                  for a in data["attempts"]],
        envelope_recipient=str(data["envelope_recipient"]), envelope_source="model",
        outcome=str(data["outcome"]), dsn=str(data["dsn"]) if data.get("dsn") else None,
        logged_names=parsed.names, logged=parsed.named(), evidence=[str(line) for line in data["log"]],
    )
    observation.notes = [f"route {data['route']['kind']}"]
    return observation, _levels(data, spec)


@dataclass(frozen=True, slots=True)
class Levels:
    """Preferences read from the model's MX answers (not only the route it kept, which an
    address limit cuts short) and from the address answers of those hosts; an implicit
    MX has preference 0."""

    names: dict[str, int]  # every MX host name
    shuffled: frozenset[str]  # names that share their preference with another MX host
    addresses: dict[str, int]  # every address of those hosts, and of the route


def _levels(data: Mapping[str, Any], spec: ScenarioSpec | None = None) -> Levels:
    levels: dict[str, int] = {}
    hosts_at: dict[int, set[str]] = {}
    for question in data["dns"]:
        if question["qtype"] != "MX":
            continue
        for line in question.get("answer", []):
            words = str(line).split()
            if len(words) >= 6 and words[3] == "MX":
                levels.setdefault(_name(words[5]), int(words[4]))
                hosts_at.setdefault(int(words[4]), set()).add(_name(words[5]))
    addresses: dict[str, int] = {}
    for target in data["route"]["targets"]:
        addresses.setdefault(str(target["address"]), int(target["preference"]))
    for question in data["dns"]:
        level = levels.get(_name(question["qname"]))
        if question["qtype"] not in ("A", "AAAA") or level is None:
            continue
        for line in question.get("answer", []):
            words = str(line).split()
            if len(words) >= 5 and words[3] in ("A", "AAAA"):
                addresses.setdefault(words[4], level)
    if spec is not None:
        # Every MX host's addresses from the scenario itself: an MTA that looks hosts up only
        # when it connects (Sendmail) may try a host the model did not look up.
        for zone_spec in spec.zones:
            for owner, rdataset in zone_spec.zone.iterate_rdatasets():
                level = levels.get(_name(owner.to_text()))
                if level is not None and rdataset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                    for rdata in rdataset:
                        addresses.setdefault(str(rdata.address), level)
    shuffled = frozenset(name for name, level in levels.items() if len(hosts_at.get(level, ())) > 1)
    return Levels(levels, shuffled, addresses)


def sending_host(real: Observation) -> SendingHost:
    """The host the real MTA ran on, as the model is told of it: the worker's host name and
    sender, and the interface addresses it saw."""
    return SendingHost(HOSTNAME, SENDER, tuple(real.interfaces))


def _name(text: Any) -> str:
    return str(text).rstrip(".").lower() or "."


def _searched(name: str) -> str:
    """The name a question is about: without the host's domain that the stub library's
    search list appended (NAME.mxsim-agree.invalid, docs/agreement.md)."""
    suffix = "." + SENDER_DOMAIN
    return name[: -len(suffix)] if name.endswith(suffix) else name


def _reverse_address(name: str) -> str | None:
    try:
        return str(dns.reversename.to_address(dns.name.from_text(name)))
    except (dns.exception.DNSException, ValueError):
        return None


def _block_of(question: Question, levels: Levels, concurrent: bool) -> tuple[int | None, str]:
    """The preference level whose block a question joins (None: none), and its text there.

    Which host of a shuffled level an MTA looks up first (or only: Sendmail looks a host up
    when it connects) and which address it connects to is chance: such questions are
    compared by their preference, not by the names."""
    text = question.text()
    if question.qtype in ("A", "AAAA"):
        host = _searched(question.qname)
        if concurrent and host in levels.names:
            return -1, text
        if host in levels.shuffled:
            preference = levels.names[host]
            return preference, text.replace(host, f"<an MX {preference} host>", 1)
    if question.qtype == "PTR":
        # Addresses of one preference are tried in an order that is chance (shuffled hosts,
        # or the resolver's order of one host's addresses).
        address = _reverse_address(question.qname)
        level = levels.addresses.get(address) if address is not None else None
        if level is not None and sum(1 for other in levels.addresses.values() if other == level) > 1:
            return level, text.replace(question.qname, f"<an MX {level} address>", 1)
    return None, text


def _blocks(questions: Sequence[Question], levels: Levels, concurrent: bool = False) -> list[tuple[str, ...]]:
    """The question sequence with each run of same-preference questions as one block.

    `concurrent`: the MTA asks for all MX hosts at once, so all their address questions
    form one block (their reverse lookups, made as it connects, keep their levels).
    """
    out: list[tuple[str, ...]] = []
    run_level: int | None = None
    for question in questions:
        level, text = _block_of(question, levels, concurrent)
        if level is not None and level == run_level and out:
            out[-1] = tuple(sorted((*out[-1], text)))
        else:
            out.append((text,))
        run_level = level
    return out


def _show_blocks(blocks: Sequence[tuple[str, ...]]) -> list[str]:
    return [" + ".join(block) if len(block) > 1 else block[0] for block in blocks]


def compare_dns(
    model: Sequence[Question], real: Sequence[Question], levels: Levels, concurrent: bool = False,
) -> FieldResult:
    left, right = _blocks(model, levels, concurrent), _blocks(real, levels, concurrent)
    a, b = _show_blocks(left), _show_blocks(right)
    agreed = left == right
    diff = () if agreed else tuple(
        line for line in difflib.unified_diff(a, b, "model", "real", lineterm="", n=2)
        if not line.startswith(("---", "+++"))
    )
    return FieldResult("dns", agreed, f"{len(model)} questions", f"{len(real)} questions", diff)


def _attempt_runs(attempts: Sequence[Try], levels: Mapping[str, int]) -> list[tuple[int | None, list[Try]]]:
    runs: list[tuple[int | None, list[Try]]] = []
    for attempt in attempts:
        level = levels.get(attempt.address)
        if runs and runs[-1][0] == level:
            runs[-1][1].append(attempt)
        else:
            runs.append((level, [attempt]))
    return runs


def compare_attempts(
    model: Sequence[Try], real: Sequence[Try], levels: Mapping[str, int],
    candidates: Mapping[int, set[str]],
) -> FieldResult:
    left, right = _attempt_runs(model, levels), _attempt_runs(real, levels)
    problems: list[str] = []
    if [level for level, _ in left] != [level for level, _ in right]:
        problems.append(
            f"preference levels tried: model {[lvl for lvl, _ in left]}, real {[lvl for lvl, _ in right]}"
        )
    for (level, m_run), (_, r_run) in zip(left, right, strict=False):
        pool = candidates.get(level, set()) if level is not None else set()
        m_set = Counter((t.address, t.result) for t in m_run)
        r_set = Counter((t.address, t.result) for t in r_run)
        if level is not None and {t.address for t in m_run} != pool:
            # The model tried only some addresses of this level (a limit): counts, results and
            # the pool are what can agree; which addresses were drawn is chance.
            same = (len(m_run) == len(r_run)
                    and Counter(t.result for t in m_run) == Counter(t.result for t in r_run)
                    and {t.address for t in r_run} <= pool)
            if not same:
                problems.append(
                    f"preference {level}: model tried {len(m_run)} of {len(pool)} "
                    f"({_results(m_run)}), real tried {len(r_run)} ({_results(r_run)})"
                )
        elif m_set != r_set:
            problems.append(f"preference {level}: model {sorted(m_set)} real {sorted(r_set)}")
    model_text = "; ".join(t.text() for t in model) or "none"
    real_text = "; ".join(t.text() for t in real) or "none"
    return FieldResult("attempts", not problems, model_text, real_text, tuple(problems))


def _results(run: Sequence[Try]) -> str:
    return ", ".join(f"{n} {r}" for r, n in sorted(Counter(t.result for t in run).items()))


def _simple(name: str, model: str | None, real: str | None, *, observable: bool = True) -> FieldResult:
    if not observable:
        return FieldResult(name, True, str(model), "not observable", compared=False)
    return FieldResult(name, model == real, str(model), str(real))


def _dsn_class(model: str | None, real: str | None) -> FieldResult:
    """The class (2, 4, 5) is compared; the full codes are shown beside it."""
    def show(code: str | None) -> str:
        return f"{code[:1]} ({code})" if code else "none"
    if real is None:
        return FieldResult("dsn_class", True, show(model), "not logged", compared=False)
    return FieldResult("dsn_class", (model or "?")[:1] == real[:1], show(model), show(real))


def compare_names(model: Observation, real: Observation) -> FieldResult:
    """The names the MTA logged: beside each address both sides tried, and the names it
    logged with no address (OpenSMTPD's relay="domain", Sendmail's "with host.")."""
    problems: list[str] = []
    common = sorted(set(model.logged) & set(real.logged))
    problems += [f"{a}: model {model.logged[a]}, real {real.logged[a]}" for a in common
                 if model.logged[a] != real.logged[a]]
    left = sorted(set(model.logged_names) - set(model.logged.values()))
    # The bounce the real MTA returns to the harness's own sender is not part of the route.
    right = sorted(name for name in set(real.logged_names) - set(real.logged.values())
                   if not _name(name).endswith(SENDER_DOMAIN))
    if left != right:
        problems.append(f"names without an address: model {', '.join(left) or 'none'}, "
                        f"real {', '.join(right) or 'none'}")
    if not common and not left and not right and sorted(model.logged_names) != sorted(real.logged_names):
        # The two sides drew different addresses (an address limit): nothing to hold
        # side by side, which is not a difference.
        return FieldResult("logged_names", True, ", ".join(sorted(model.logged_names)),
                           ", ".join(sorted(real.logged_names)), ("no address tried by both sides",),
                           compared=False)
    model_shown = "; ".join([*(f"{a} {model.logged[a]}" for a in common), *left]) or "none"
    real_shown = "; ".join([*(f"{a} {real.logged[a]}" for a in common), *right]) or "none"
    return FieldResult("logged_names", not problems, model_shown, real_shown, tuple(problems))


def compare(label: str, model: Observation, real: Observation, levels: Levels) -> Comparison:
    candidates: dict[int, set[str]] = {}
    for address, level in levels.addresses.items():
        candidates.setdefault(level, set()).add(address)
    comparison = Comparison(label, model, real, levels=dict(levels.addresses))
    comparison.fields = [
        compare_dns(model.dns, real.dns, levels, driver(real.mta).concurrent_host_lookups),
        compare_attempts(model.attempts, real.attempts, levels.addresses, candidates),
        _simple("envelope_recipient", model.envelope_recipient, real.envelope_recipient,
                observable=real.envelope_recipient is not None),
        _simple("outcome", model.outcome, real.outcome),
        _dsn_class(model.dsn, real.dsn),
        compare_names(model, real),
    ]
    return comparison
