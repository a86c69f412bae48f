"""An MTA-STS policy over time: the bundled migration, replayed hour by hour.

The MX moves at 1h with the enforce policy left listing the old hosts (its id
unchanged); at 6h the policy is fixed with a new id. Senders that enforce MTA-STS
defer from the move to the fix, then drain; the policy they fetch after the fix is the
one the timeline put in place, not the base scenario's.
"""

from __future__ import annotations

import json

import jsonschema

from mxsim.commands.replay import MtaReplay, ReplayConfig, run_replay
from mxsim.report import replay_json, replay_text
from mxsim.scenario import load_scenario
from mxsim.schemas import schema

HOUR = 3600.0
MOVE, FIX = 1 * HOUR, 6 * HOUR


def _replay(mta: str, overrides: dict[str, str] | None = None) -> tuple[MtaReplay, str, str]:
    result = run_replay(ReplayConfig(specs=(load_scenario("mta-sts-migration-over-time"),), messages=48,
                                     mtas=(mta,), overrides=overrides or {}, arrival=8 * HOUR, bucket=HOUR))
    (m,) = result.scenarios[0].results
    return m, replay_text.render(result), replay_json.render(result)


def test_postfix_sts_defers_from_the_move_to_the_fix_then_drains() -> None:
    m, text, document = _replay("postfix-sts")
    assert m.delivered_expected == m.messages == 48 and m.queued == 0
    by_hour = {int(bucket.start_s // HOUR): bucket for bucket in m.buckets}
    # Mail arriving between the move and the fix is held: nothing is delivered in those hours.
    assert all(by_hour[hour].delivered == 0 and by_hour[hour].deferred > 0 for hour in range(2, 6))
    assert by_hour[0].deferred == 0 and by_hour[7].deferred == 0
    deferrals = m.deferrals
    assert deferrals is not None and deferrals.still_queued == 0
    # Every message that arrived after the MX had moved and before the fix waited (6 an hour).
    assert deferrals.messages >= 6 * 4
    assert deferrals.last_drained_s is not None and FIX < deferrals.last_drained_s < FIX + 2 * HOUR
    assert deferrals.wait_max_s is not None and deferrals.wait_max_s > FIX - MOVE - HOUR
    assert f"{deferrals.messages} of 48 messages deferred on their first attempt" in text
    jsonschema.validate(json.loads(document), schema("replay"))
    (scenario,) = json.loads(document)["scenarios"]
    assert scenario["mtas"][0]["deferrals"]["delivered_later"] == deferrals.messages


def test_rfc8461_senders_wait_too_and_senders_without_mta_sts_do_not() -> None:
    enforcing, _text, _json = _replay("rfc5321", {"rfc5321:mta_sts": "enforce"})
    assert enforcing.deferrals is not None and enforcing.deferrals.still_queued == 0
    assert enforcing.deferrals.last_drained_s is not None and enforcing.deferrals.last_drained_s > FIX
    plain, text, _json = _replay("postfix")
    assert plain.deferrals is None and plain.first_attempt_success == plain.messages
    assert "deferred on their first attempt" not in text
