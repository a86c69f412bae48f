"""A scaled-down migration held against real software: Debian's unbound and Postfix 3.7.

The lab follows the file's timeline on the wall clock (the MX, TTL 4 s, changes 12 s
after the lab is up); Postfix is handed a message every half second. The share of the
messages handed over after the change that still reached the old host is compared with
`replay` of the same file, with the same arrivals, one cold cache (unbound starts empty)
and Postfix's profile: within one cache epoch's share of the messages, since every
message that reaches the old host after the change does so in the epoch the change fell in.

Postfix's on-demand connection cache is off: with a backlog it would reuse a session to
the old host without asking DNS, which the model does not do (docs/lab.md#postfix).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mxsim.agree.migration import observe_migration
from mxsim.commands.replay import ReplayConfig, run_replay
from mxsim.scenario import load_scenario

pytestmark = pytest.mark.agreement

ZONE = """    $TTL 4
    @    SOA  ns1.example.org. hostmaster.example.org. {serial} 7200 900 1209600 4
    @    NS   ns1.example.org.
    @    MX   10 {mx}.example.org.
    ns1  A    192.0.2.53
    mx-old  A  192.0.2.25
    mx-new  A  192.0.2.26"""
NEW_ZONE = "\n".join("    " + line for line in ZONE.format(serial=2, mx="mx-new").splitlines())
SCENARIO = f"""mxsim: 1
name: migration-real
recipient: user@example.org
zones:
  example.org: |
{ZONE.format(serial=1, mx="mx-old")}
servers:
  ns1.example.org: {{address: 192.0.2.53, zones: [example.org]}}
hosts:
  default: {{smtp: accept}}
resolver:
  warm: false
timeline:
  - at: 12s
    zones:
      example.org: |
{NEW_ZONE}
"""
MESSAGES = 40
INTERVAL = 0.5
TTL = 4


def test_postfix_over_real_unbound_reaches_the_old_host_as_replay_says(tmp_path: Path) -> None:
    scenario = tmp_path / "migration-real.yaml"
    scenario.write_text(SCENARIO)
    sent = observe_migration(scenario, "postfix", "user@example.org", messages=MESSAGES, interval=INTERVAL,
                             settings={"smtp_connection_cache_on_demand": "no"})
    assert all(s.host is not None for s in sent), sent
    after = [s for s in sent if s.offset >= 0]
    real = sum(s.host == "mx-old.example.org" for s in after) / len(after)
    # The model: the same file, the change where it came relative to the first message.
    spec = load_scenario(scenario)
    first = sent[0].offset
    spec = replace(spec, timeline=(replace(spec.timeline[0], at=-first),))
    result = run_replay(ReplayConfig(specs=(spec,), messages=MESSAGES, mtas=("postfix",),
                                     arrival=MESSAGES * INTERVAL, first_attempt_only=True))
    migration = result.scenarios[0].results[0].migration
    assert migration is not None and abs(migration.after - len(after)) <= 1, (migration, len(after))
    model = migration.share
    # The messages after the change are not independent draws: all that reach the old host
    # do so in the one cache epoch the change fell in, which lasts the TTL plus unbound's
    # whole second. Where in that epoch the change falls is chance (the moment Postfix
    # first asked, to the millisecond), so real and model may differ by up to one epoch's
    # messages, and no more: a standard error over messages would count one draw twenty times.
    epoch = (TTL + 1) / INTERVAL / len(after)
    assert abs(real - model) <= epoch, (real, model, [(round(s.offset, 2), s.host) for s in sent])
    # The change fell inside the stream: before it all went to the old host, at the end all to the new.
    assert all(s.host == "mx-old.example.org" for s in sent if s.offset < 0) and sent[0].offset < 0
    assert all(s.host == "mx-new.example.org" for s in after if s.offset > 4 + 2)  # past the TTL
