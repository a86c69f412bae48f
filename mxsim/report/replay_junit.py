"""`mxsim replay --format junit`: one test case per scenario x MTA; a failed gate is a failure.

A case with no gate checked nothing: it is reported skipped, so a CI page never shows it as a pass.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mxsim.commands.replay import NO_GATES, ReplayResult
from mxsim.report.replay_text import pct


def render(result: ReplayResult) -> str:
    suites = ET.Element("testsuites", name="mxsim replay")
    total = failed = skipped = 0
    for scenario in result.scenarios:
        failures = sum(not m.passed for m in scenario.results)
        ungated = sum(m.status == NO_GATES for m in scenario.results)
        suite = ET.SubElement(suites, "testsuite", name=scenario.scenario, tests=str(len(scenario.results)),
                              failures=str(failures), errors="0", skipped=str(ungated), time="0")
        properties = ET.SubElement(suite, "properties")
        for name, value in (("seed", result.seed), ("messages", result.messages), ("resolvers", result.resolvers),
                            ("arrival_seconds", result.arrival), ("arrival_process", result.process.value)):
            ET.SubElement(properties, "property", name=name, value=str(value))
        for m in scenario.results:
            case = ET.SubElement(suite, "testcase", name=m.mta, classname=f"mxsim.replay.{scenario.scenario}",
                                 time="0")
            if not m.passed:
                failing = [g for g in m.gates if not g.passed]
                failure = ET.SubElement(case, "failure", message="; ".join(g.message for g in failing),
                                        type="gate")
                failure.text = "\n".join(g.message for g in failing)
            elif m.status == NO_GATES:
                ET.SubElement(case, "skipped", message="no gates: the scenario sets no expect and no --fail-on")
            out = ET.SubElement(case, "system-out")
            out.text = (f"delivered to expected hosts {pct(m.share(m.delivered_expected))}, "
                        f"bounced {pct(m.share(m.bounced))}, first attempt {pct(m.share(m.first_attempt_success))}")
        total += len(scenario.results)
        failed += failures
        skipped += ungated
    suites.set("tests", str(total))
    suites.set("failures", str(failed))
    suites.set("skipped", str(skipped))
    suites.set("errors", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
