"""`mxsim check --format junit`: a test case per finding; at or above --fail-on it fails.

A check that could not measure something adds an errored case `measurement`; a clean
check is one passing case `mxsim.check` carrying the summary line.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mxsim.commands.check import CheckResult


def render(result: CheckResult) -> str:
    suites = ET.Element("testsuites", name="mxsim check")
    suite = ET.SubElement(suites, "testsuite", name=f"mxsim check {result.domain}", errors="0", skipped="0",
                          time="0")
    properties = ET.SubElement(suite, "properties")
    for name, value in (("domain", result.domain), ("fail_on", result.fail_on.label), ("samples", result.samples),
                        ("seed", result.seed), ("summary", result.summary)):
        ET.SubElement(properties, "property", name=name, value=str(value))
    failures = errors = tests = 0
    classname = f"mxsim.check.{result.domain}"
    for finding in result.findings:
        tests += 1
        case = ET.SubElement(suite, "testcase", name=f"{finding.id}: {finding.message}", classname=classname,
                             time="0")
        evidence = "\n".join(
            f"{e.address} {e.server} {e.backend} {e.query} {'' if e.share is None else f'{e.share:.0%}'} {e.detail}"
            .strip() for e in finding.evidence)
        if finding.level >= result.fail_on:
            failures += 1
            failure = ET.SubElement(case, "failure", message=finding.message, type=finding.level.label)
            failure.text = f"{finding.spec.rfc}\n{evidence}"
        else:
            out = ET.SubElement(case, "system-out")
            out.text = f"{finding.level.label} {finding.spec.rfc}\n{evidence}"
    if result.unknown:
        tests += 1
        errors += 1
        case = ET.SubElement(suite, "testcase", name="measurement", classname=classname, time="0")
        error = ET.SubElement(case, "error", message="could not measure", type="unknown")
        error.text = "\n".join(result.unknown)
    if not tests:
        tests = 1
        case = ET.SubElement(suite, "testcase", name="mxsim.check", classname=classname, time="0")
        ET.SubElement(case, "system-out").text = result.summary
    for element in (suite, suites):
        element.set("tests", str(tests))
        element.set("failures", str(failures))
        element.set("errors", str(errors))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
