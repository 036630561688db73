"""Bad configuration stops start-up with one message naming file and line, tenant, stage and
field; warnings are reported and do not stop it (unless strict). The corpus of broken
configurations, one per mistake, is tests/test_check_corpus.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from errors import ConfigError
from pipeline.config import EXAMPLE_CONFIG, check_config, load_config
from pipeline.findings import Severity
from tests.support.config import TEST_CONFIG, desk_config, stage, tenant, write_config

ROOT = Path(__file__).resolve().parent.parent


def problems_of(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> list[str]:
    """The errors of the tests' configuration after `change`, file and line as FILE:LINE (the
    corpus test asserts lines; these assert what the messages say)."""
    config = desk_config()
    change(config)
    path = write_config(tmp_path, config)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return [re.sub(rf"^{re.escape(str(path))}:\d+", "FILE:LINE", p) for p in raised.value.problems]


def crossdesk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python app.py ARGS` as an admin runs it from the repository."""
    return subprocess.run(
        [sys.executable, "app.py", *args],
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("path", [TEST_CONFIG, EXAMPLE_CONFIG], ids=["tests", "example"])
def test_the_shipped_configurations_have_no_findings(path: Path) -> None:
    report = check_config(path)
    assert [str(f) for f in report.findings] == []
    assert report.config is not None
    assert report.config.front_door.id == "helpdesk"
    assert sorted(report.config.tenants) == ["helpdesk", "hr", "it", "legal"]


def test_unknown_stage_type(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stage(c, "hr", "detail")["type"] = "questionnaire"

    assert problems_of(tmp_path, change) == [
        "FILE:LINE, tenant 'hr', stage 'detail', field 'type': unknown stage type"
        " 'questionnaire'; expected one of business_hours, condition, connect_agent, end,"
        " http_request, message, options, question, rating, set_metadata, tenant_transfer; did"
        " you mean 'question'?"
    ]


def test_transition_to_a_missing_key(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stage(c, "helpdesk", "route")["choices"][1]["next"] = "to_hrr"

    assert problems_of(tmp_path, change) == [
        "FILE:LINE, tenant 'helpdesk', stage 'route', field 'choices[1].next': transition to"
        " 'to_hrr', which is not a stage of this pipeline; did you mean 'to_hr'?"
    ]


def test_transfer_to_a_missing_tenant(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stage(c, "helpdesk", "to_legal")["tenant"] = "compliance"

    assert problems_of(tmp_path, change) == [
        "FILE:LINE, tenant 'helpdesk', stage 'to_legal', field 'tenant': transfer to 'compliance',"
        " which is not a tenant (tenants: helpdesk, it, hr, legal)"
    ]


def test_missing_template(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stage(c, "hr", "to_legal")["template"] = "handover.json"

    [problem] = problems_of(tmp_path, change)
    assert problem.startswith(
        "FILE:LINE, tenant 'hr', stage 'to_legal', field 'template': template 'handover.json' not"
        " found"
    )


def test_duplicate_stage_key(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stages = tenant(c, "legal")["pipelines"]["intake"]["stages"]
        stages.append({"key": "matter", "type": "end", "text": "Bye."})

    assert problems_of(tmp_path, change) == [
        "FILE:LINE, tenant 'legal', stage 'matter', field 'key': duplicate stage key in this"
        " pipeline",
    ]


def test_missing_required_field(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        del stage(c, "it", "device")["store_as"]

    assert problems_of(tmp_path, change) == [
        "FILE:LINE, tenant 'it', stage 'device', field 'store_as': required, but missing"
    ]


def test_unknown_field_is_named(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        stage(c, "it", "device")["stroe_as"] = "IT.Device"

    assert problems_of(tmp_path, change) == [
        "FILE:LINE, tenant 'it', stage 'device', field 'stroe_as': unknown field 'stroe_as'; did"
        " you mean 'store_as'?"
    ]


def test_front_door_and_primary_pipeline_must_exist(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        c["front_door"] = "reception"
        tenant(c, "it")["primary_pipeline"] = "main"

    assert problems_of(tmp_path, change) == [
        "FILE:LINE, field 'front_door': 'reception' is not a tenant (tenants: helpdesk, it, hr,"
        " legal)",
        "FILE:LINE, tenant 'it', field 'primary_pipeline': no pipeline named 'main' (pipelines:"
        " triage)",
    ]


def test_template_with_invalid_json(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"type": "AdaptiveCard", ')

    def change(c: dict[str, Any]) -> None:
        stage(c, "helpdesk", "to_it")["template"] = "broken.json"

    [problem] = problems_of(tmp_path, change)
    assert problem.startswith(
        "FILE:LINE, tenant 'helpdesk', stage 'to_it', field 'template': template 'broken.json'"
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
    assert result.stderr.startswith("Crossdesk cannot start; the configuration has 1 problem:")
    assert re.search(
        rf"{re.escape(str(path))}:\d+, tenant 'helpdesk', stage 'to_legal', field 'tenant'",
        result.stderr,
    )
    assert "Traceback" not in result.stderr


def test_tenant_and_top_level_fields_are_named(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        c["max_transfers_per_chat"] = 0
        del tenant(c, "it")["name"]
        del stage(c, "hr", "bye")["type"]

    assert problems_of(tmp_path, change) == [
        "FILE:LINE, field 'max_transfers_per_chat': must be at least 1, not 0",
        "FILE:LINE, tenant 'it', field 'name': required, but missing",
        "FILE:LINE, tenant 'hr', stage 'bye', field 'type': missing stage type; add `type:` with"
        " one of business_hours, condition, connect_agent, end, http_request, message, options,"
        " question, rating, set_metadata, tenant_transfer",
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
    assert to_it.startswith(
        "FILE:LINE, tenant 'helpdesk', stage 'to_it', field 'template': template"
    )
    assert "concat(Guest.Name," in to_it and "/body/0/text" in to_it
    assert to_hr.startswith("FILE:LINE, tenant 'helpdesk', stage 'to_hr', field 'template'")
    assert "'url' is a required property" in to_hr
    assert detail.startswith(
        "FILE:LINE, tenant 'hr', stage 'detail', field 'text': cannot be parsed"
    )


# warnings, strictness, and the `check` command


def with_a_warning(config: dict[str, Any]) -> None:
    """A choice that ends the chat without a word: a warning, not an error."""
    del stage(config, "hr", "next_step")["choices"][0]["next"]


def test_warnings_do_not_stop_start_up_and_strict_makes_them_errors(tmp_path: Path) -> None:
    config = desk_config()
    with_a_warning(config)
    path = write_config(tmp_path, config)
    loaded = load_config(path)
    [finding] = loaded.findings
    assert finding.severity is Severity.WARNING
    assert str(finding).startswith(
        f"{path}:95, tenant 'hr', stage 'next_step', field 'choices[0].next': blank, so the chat"
        " ends without a word once the guest picks it"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, strict=True)
    assert raised.value.problems == [str(finding)]


def test_check_lists_findings_then_one_summary_line(tmp_path: Path) -> None:
    config = desk_config()
    with_a_warning(config)
    stage(config, "it", "bye")["text"] = "Thanks, logged for ${IT.Devcie}."
    path = write_config(tmp_path, config)
    result = crossdesk("check", str(path))
    assert result.returncode == 1
    assert result.stderr == ""
    error, warning, summary = result.stdout.splitlines()
    assert error == (
        f"error: {path}:71, tenant 'it', stage 'bye', field 'text': 'IT.Devcie': no stage stores"
        " this metadata key and Crossdesk does not set it, so it always renders empty; did you"
        " mean 'IT.Device'?"
    )
    assert warning.startswith(f"warning: {path}:94, tenant 'hr', stage 'next_step'")
    assert summary == (
        f"check {path}: FAILED: 1 error, 1 warning, 0 notes (4 tenants, 4 pipelines, 18 stages,"
        " 1 card template)"
    )
    assert "cannot start" not in result.stdout + result.stderr


def test_check_passes_with_warnings_unless_strict(tmp_path: Path) -> None:
    config = desk_config()
    with_a_warning(config)
    path = write_config(tmp_path, config)
    relaxed = crossdesk("check", str(path))
    assert relaxed.returncode == 0
    assert relaxed.stdout.splitlines()[-1].startswith(f"check {path}: OK: 0 errors, 1 warning,")
    strict = crossdesk("check", "--strict", str(path))
    assert strict.returncode == 1
    assert strict.stdout.splitlines()[-1].startswith(
        f"check {path}: FAILED (--strict: warnings count as errors): 0 errors, 1 warning,"
    )


def test_check_reads_the_configured_file_without_an_argument(tmp_path: Path) -> None:
    config = desk_config()
    with_a_warning(config)
    path = write_config(tmp_path, config)
    result = crossdesk("check", env={"CROSSDESK_CONFIG": str(path)})
    assert result.stdout.splitlines()[-1].startswith(f"check {path}: OK")
    assert result.stdout.startswith("warning: ")


def test_start_up_logs_warnings_and_strict_start_up_refuses_them(tmp_path: Path) -> None:
    config = desk_config()
    with_a_warning(config)
    path = write_config(tmp_path, config)
    result = crossdesk("run", "--strict", env={"CROSSDESK_CONFIG": str(path), "PORT": "1"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Crossdesk cannot start; the configuration has 1 problem:",
        f"  {load_config(path).findings[0]}",
    ]


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    latin1 = "name: Hélp Desk".encode("latin-1")
    path.write_bytes(TEST_CONFIG.read_bytes().replace(b"name: Help Desk", latin1))
    report = check_config(path)
    [finding] = report.findings
    assert str(finding) == (
        f"{path}:15: not UTF-8 text: byte 0xe9 at column 12 cannot be read; save it as UTF-8"
    )
    result = crossdesk("check", str(path))
    assert "Traceback" not in result.stderr and result.returncode == 1


def test_a_yaml_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("front_door: helpdesk\ntenants:\n  - id: it\n     name: IT\n")
    [finding] = check_config(path).findings
    assert str(finding).startswith(f"{path}:4: not valid YAML, column 10: mapping values are")
    assert "<unicode string>" not in str(finding)


def test_without_the_packages_installed_app_py_says_what_to_run() -> None:
    # -S: no site-packages, as a system Python without Crossdesk's packages would be.
    result = subprocess.run(
        [sys.executable, "-S", "app.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Run `make run` once (it sets up .venv), then use .venv/bin/crossdesk" in result.stderr


def test_transfer_cycles_are_reported_as_information(tmp_path: Path) -> None:
    config = desk_config()
    stage(config, "hr", "to_legal")["tenant"] = "helpdesk"
    path = write_config(tmp_path, config)
    loaded = load_config(path, strict=True)  # information is not a problem, even when strict
    assert [(f.severity, f.where.tenant, f.where.stage, f.message) for f in loaded.findings] == [
        (
            Severity.INFO,
            "helpdesk",
            "to_hr",
            "transfers can go round 'helpdesk' → 'hr' → 'helpdesk'; max_transfers_per_chat (5)"
            " ends such a chain",
        )
    ]
    result = crossdesk("check", str(path))
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith(f"info: {path}:")
    assert result.stdout.splitlines()[-1].endswith(
        "OK: 0 errors, 0 warnings, 1 note (4 tenants, 4 pipelines, 18 stages, 1 card template)"
    )


def test_only_choices_that_lead_to_a_transfer_must_be_tenant_ids(tmp_path: Path) -> None:
    config = desk_config()
    route = stage(config, "helpdesk", "route")
    for choice in route["choices"]:
        choice["next"] = "to_department"
    route["choices"].append({"title": "Not sure", "value": "unsure", "next": "unavailable"})
    tenant(config, "helpdesk")["pipelines"]["welcome"]["stages"].append(
        {
            "key": "to_department",
            "type": "tenant_transfer",
            "tenant": "${HelpDesk.Department}",
            "template": "transfer.json",
            "on_failure": "unavailable",
        }
    )
    for key in ("to_it", "to_hr", "to_legal"):
        stages = tenant(config, "helpdesk")["pipelines"]["welcome"]["stages"]
        stages.remove(stage(config, "helpdesk", key))
    # 'unsure' goes to `unavailable`, which leads back to the options (storing anew) before
    # any transfer: it never reaches ${HelpDesk.Department} as a tenant id.
    assert [str(f) for f in load_config(write_config(tmp_path, config)).findings] == []

    route["choices"][-1]["next"] = "to_department"
    [problem] = problems_of(tmp_path, lambda c: c.update(config))
    assert problem.startswith(
        "FILE:LINE, tenant 'helpdesk', stage 'route', field 'choices[3].value': 'unsure' is not a"
        " tenant id, but stage 'to_department' transfers the chat to ${HelpDesk.Department}"
    )


AGENTS = [
    {"id": "alex", "name": "Alex Wilber", "aad_object_id": "00000000-0000-0000-0000-00000000a1ec"},
    {"id": "adele", "name": "Adele Vance", "upn": "adele@contoso.example", "max_chats": 2},
]


def test_agents_and_the_tenants_that_list_them(tmp_path: Path) -> None:
    config = desk_config()
    config["agents"] = AGENTS
    tenant(config, "hr")["agents"] = ["alex", "adele"]
    tenant(config, "hr")["agent_lists"] = {"payroll": ["adele"]}
    loaded = load_config(write_config(tmp_path, config))
    directory = loaded.agents
    assert [a.id for a in directory.of("hr")] == ["alex", "adele"]
    assert [a.id for a in directory.of("hr", "payroll")] == ["adele"]
    assert directory.of("it") == ()
    assert directory.identify("00000000-0000-0000-0000-00000000A1EC") is directory.by_id["alex"]
    assert directory.identify(None, "Adele@Contoso.example") is directory.by_id["adele"]
    assert directory.tenants_of("adele") == frozenset({"hr"})


def test_agent_mistakes_are_named(tmp_path: Path) -> None:
    def change(c: dict[str, Any]) -> None:
        c["agents"] = [
            *AGENTS,
            {"id": "alex", "name": "Alex again", "upn": "alex@contoso.example"},
            {"id": "nobody", "name": "No One"},
            {"id": "twin", "name": "Twin", "aad_object_id": AGENTS[0]["aad_object_id"]},
        ]
        tenant(c, "hr")["agents"] = ["alex", "alx"]
        tenant(c, "hr")["agent_lists"] = {"payroll": ["ghost"]}

    assert problems_of(tmp_path, change) == [
        "FILE:LINE, tenant 'hr', field 'agents': 'alx' in `agents` is not an agent (agents:"
        " alex, adele, nobody, twin); did you mean 'alex'?",
        "FILE:LINE, tenant 'hr', field 'agent_lists': 'ghost' in `agent_lists.payroll` is not"
        " an agent (agents: alex, adele, nobody, twin)",
        "FILE:LINE, field 'agents[2].id': duplicate agent id",
        "FILE:LINE, field 'agents[3]': agent 'nobody' has neither `aad_object_id` nor `upn`:"
        " Crossdesk could not tell them apart from a guest",
        "FILE:LINE, field 'agents[4].aad_object_id': agent 'alex' has the same aad_object_id:"
        " one person, two agents",
    ]
