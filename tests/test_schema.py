"""The configuration's JSON Schema: generated from the models, shipped in config/, referenced by
the example so editors complete and check configurations as they are typed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from pipeline.config import EXAMPLE_CONFIG, SCHEMA_FILE, config_schema, schema_text
from tests.support.config import TEST_CONFIG

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "config" / "broken"


def validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def messages(data: Any) -> list[str]:
    """Every message, with those inside a stage's alternatives (an editor shows the ones of the
    stage type the stage names)."""
    found: list[str] = []

    def collect(errors: Any) -> None:
        for error in errors:
            found.append(error.message)
            collect(error.context or ())

    collect(validator().iter_errors(data))
    return found


def test_the_shipped_schema_is_the_generated_one() -> None:
    # After a change to the models: crossdesk schema --out config/crossdesk.schema.json
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text()
    Draft202012Validator.check_schema(config_schema())


def test_the_schema_command_prints_it() -> None:
    result = subprocess.run(
        [sys.executable, "app.py", "schema"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_the_example_points_editors_at_the_schema() -> None:
    first = EXAMPLE_CONFIG.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, first
    assert (EXAMPLE_CONFIG.parent / match.group(1)).resolve() == SCHEMA_FILE


@pytest.mark.parametrize("path", [EXAMPLE_CONFIG, TEST_CONFIG], ids=["example", "tests"])
def test_valid_configurations_pass_the_schema(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [error.message for error in validator().iter_errors(data)] == []


@pytest.mark.parametrize(
    ("name", "flagged"),
    [
        ("unknown-field", "'stroe_as' was unexpected"),
        ("unknown-stage-type", "questionnaire"),
        ("yes-no-title", "True is not of type 'string'"),
        ("pipelines-as-list", "is not of type 'object'"),
        ("pipeline-stages-empty", "should be non-empty"),
        ("bad-tenant-id", "does not match"),
        ("missing-required-field", "'store_as' is a required property"),
    ],
)
def test_an_editor_flags_shape_mistakes_as_they_are_typed(name: str, flagged: str) -> None:
    data: Any = yaml.safe_load((CORPUS / f"{name}.yaml").read_text(encoding="utf-8"))
    found = messages(data)
    assert found, f"the schema accepts {name}.yaml"
    assert any(flagged in message for message in found), found
