"""Every JSON output and every bundled scenario validates against the schema mxsim ships."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from mxsim.agree.compare import compare, model_observation
from mxsim.cli import app
from mxsim.scenario import bundled_scenarios, load_scenario
from mxsim.schemas import NAMES, schema

runner = CliRunner()


def _validator(name: str) -> jsonschema.Draft202012Validator:
    loaded = schema(name)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return jsonschema.Draft202012Validator(loaded)


def _valid(name: str, document: Any) -> None:
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_is_a_valid_2020_12_schema_and_printed_by_the_cli(name: str) -> None:
    done = runner.invoke(app, ["schema", name])
    assert done.exit_code == 0 and json.loads(done.stdout) == schema(name)
    assert schema(name)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("scenario", bundled_scenarios())
def test_bundled_scenarios_validate(scenario: str) -> None:
    spec = load_scenario(scenario)
    with open(spec.source, encoding="utf-8") as file:
        _valid("scenario", yaml.safe_load(file))


def test_the_scenario_schema_rejects_what_the_loader_rejects() -> None:
    validator = _validator("scenario")
    assert not validator.is_valid({"mxsim": 1, "zone": {}})  # a misspelt key
    assert not validator.is_valid({"mxsim": 1, "hosts": {"x": {"smtp": "teleport"}}})
    assert not validator.is_valid({"name": "no version"})


@pytest.mark.parametrize("scenario", bundled_scenarios())
def test_trace_json_validates(scenario: str) -> None:
    done = runner.invoke(app, ["trace", scenario, "-f", "json"])
    assert done.exit_code in (0, 1, 2), done.output
    _valid("trace", json.loads(done.stdout))


def test_replay_json_validates() -> None:
    done = runner.invoke(app, ["replay", "wa-students-2017", "nxdomain", "-n", "20", "-f", "json", "--no-progress"])
    _valid("replay", json.loads(done.stdout))


def test_agree_json_validates() -> None:
    model, levels = model_observation("wa-students-2017", ["broken"], "postfix", None, {})
    real, _ = model_observation("wa-students-2017", ["healthy"], "postfix", None, {})
    comparison = compare("wa-students-2017 postfix", model, real, levels)
    report = {"schema_version": 1, "kind": "agree", "scenario": "wa-students-2017", "pins": ["broken"],
              "comparisons": [comparison.to_json()]}
    _valid("agree", report)
