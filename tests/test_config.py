"""Bad configuration stops start-up with one message naming file, tenant, stage and field."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from errors import ConfigError
from pipeline.config import load_config
from tests.support.config import TEST_CONFIG, desk_config, stage, tenant, write_config


def problems_of(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> list[str]:
    config = desk_config()
    change(config)
    path = write_config(tmp_path, config)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return [p.replace(str(path), "FILE") for p in raised.value.problems]


def test_the_test_configuration_is_valid() -> None:
    directory = load_config(TEST_CONFIG)
    assert directory.front_door.id == "helpdesk"
    assert sorted(directory.tenants) == ["helpdesk", "hr", "it", "legal"]


def test_unknown_stage_type(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stage(c, "hr", "detail")["type"] = "questionnaire"

    assert problems_of(tmp_path, change) == [
        "FILE, tenant 'hr', stage 'detail', field 'type': unknown stage type; expected one of"
        " end, message, options, question, set_metadata, tenant_transfer"
    ]


def test_transition_to_a_missing_key(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stage(c, "helpdesk", "route")["choices"][1]["next"] = "to_hrr"

    assert problems_of(tmp_path, change) == [
        "FILE, tenant 'helpdesk', stage 'route', field 'choices[1].next': transition to 'to_hrr',"
        " which is not a stage of this pipeline"
    ]


def test_transfer_to_a_missing_tenant(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stage(c, "helpdesk", "to_legal")["tenant"] = "compliance"

    assert problems_of(tmp_path, change) == [
        "FILE, tenant 'helpdesk', stage 'to_legal', field 'tenant': transfer to 'compliance',"
        " which is not a tenant (tenants: helpdesk, it, hr, legal)"
    ]


def test_missing_template(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stage(c, "hr", "to_legal")["template"] = "handover.json"

    [problem] = problems_of(tmp_path, change)
    assert problem.startswith(
        "FILE, tenant 'hr', stage 'to_legal', field 'template': template 'handover.json' not found"
    )


def test_duplicate_stage_key(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stages = tenant(c, "legal")["pipelines"]["intake"]["stages"]
        stages.append({"key": "matter", "type": "end", "text": "Bye."})

    assert problems_of(tmp_path, change) == [
        "FILE, tenant 'legal', stage 'matter', field 'key': duplicate stage key in this pipeline",
    ]


def test_missing_required_field(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        del stage(c, "it", "device")["store_as"]

    assert problems_of(tmp_path, change) == [
        "FILE, tenant 'it', stage 'device', field 'store_as': Field required"
    ]


def test_unknown_field_is_named(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stage(c, "it", "device")["stroe_as"] = "IT.Device"

    assert problems_of(tmp_path, change) == [
        "FILE, tenant 'it', stage 'device', field 'stroe_as': Extra inputs are not permitted"
    ]


def test_front_door_and_primary_pipeline_must_exist(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        c["front_door"] = "reception"
        tenant(c, "it")["primary_pipeline"] = "main"

    assert problems_of(tmp_path, change) == [
        "FILE, field 'front_door': 'reception' is not a tenant (tenants: helpdesk, it, hr, legal)",
        "FILE, tenant 'it', field 'primary_pipeline': no pipeline named 'main' (pipelines: triage)",
    ]


def test_template_with_invalid_json(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"type": "AdaptiveCard", ')

    def change(c: dict[str, Any]) -> None:
        stage(c, "helpdesk", "to_it")["template"] = "broken.json"

    [problem] = problems_of(tmp_path, change)
    assert problem.startswith(
        "FILE, tenant 'helpdesk', stage 'to_it', field 'template': template 'broken.json'"
    )
    assert "is not valid JSON" in problem


def test_start_up_stops_with_the_message(tmp_path: Path) -> None:
    config = desk_config()
    stage(config, "helpdesk", "to_legal")["tenant"] = "compliance"
    path = write_config(tmp_path, config)
    result = subprocess.run(
        [sys.executable, "app.py"],
        env={"CROSSDESK_CONFIG": str(path), "PATH": "/usr/bin:/bin", "PORT": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{path}, tenant 'helpdesk', stage 'to_legal', field 'tenant'" in result.stderr
    assert "Traceback" not in result.stderr


def test_tenant_and_top_level_fields_are_named(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        c["max_transfers_per_chat"] = 0
        del tenant(c, "it")["name"]
        del stage(c, "hr", "bye")["type"]

    assert problems_of(tmp_path, change) == [
        "FILE, field 'max_transfers_per_chat': Input should be greater than or equal to 1",
        "FILE, tenant 'it', field 'name': Field required",
        "FILE, tenant 'hr', stage 'bye', field 'type': missing stage type",
    ]


def test_template_expression_and_schema_errors_stop_start_up(tmp_path: Path) -> None:
    (tmp_path / "bad-expression.json").write_text(
        '{"type": "AdaptiveCard", "version": "1.5",'
        ' "body": [{"type": "TextBlock", "text": "${concat(Guest.Name,}"}]}'
    )
    (tmp_path / "bad-card.json").write_text(
        '{"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Image"}]}'
    )

    def change(c: dict[str, Any]) -> None:
        stage(c, "helpdesk", "to_it")["template"] = "bad-expression.json"
        stage(c, "helpdesk", "to_hr")["template"] = "bad-card.json"
        stage(c, "hr", "detail")["text"] = "Tell us more, ${toUpper(Guest.Name}"

    to_it, to_hr, detail = problems_of(tmp_path, change)
    assert to_it.startswith("FILE, tenant 'helpdesk', stage 'to_it', field 'template': template")
    assert "concat(Guest.Name," in to_it and "/body/0/text" in to_it
    assert to_hr.startswith("FILE, tenant 'helpdesk', stage 'to_hr', field 'template'")
    assert "'url' is a required property" in to_hr
    assert detail.startswith("FILE, tenant 'hr', stage 'detail', field 'text': cannot be parsed")
