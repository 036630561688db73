"""`python -m cards`: previewing and checking templates from the command line."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from cards.__main__ import main
from tests.cards.support import ROOT, TEMPLATES

TRANSFER = TEMPLATES / "transfer.json"


def write(path: Path, value: object) -> str:
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def test_render_takes_flat_metadata(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write(
        tmp_path / "session.json",
        {"Session.TransferredTo.TenantName": "Human Resources", "Guest.Question": "Payslip?"},
    )
    assert main(["render", "--template", str(TRANSFER), "--data", data]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["body"][0]["text"] == "You're now with Human Resources"
    assert card["body"][2]["facts"][0] == {"title": "Your question", "value": "Payslip?"}


def test_render_takes_nested_data_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write(tmp_path / "d.json", {"Session": {"TransferredTo": {"TenantName": "Finance"}}})
    assert main(["render", "--template", str(TRANSFER), "--data", data, "--compact"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "You're now with Finance" in out


def test_render_reports_missing_bindings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = write(tmp_path / "d.json", {})
    with caplog.at_level(logging.WARNING, logger="cards.template"):
        assert main(["render", "--template", str(TRANSFER), "--data", data]) == 0
    assert (
        "transfer.json /body/0/text: ${Session.TransferredTo.TenantName} has no value"
        in caplog.text
    )


def test_render_with_host_and_frozen_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = write(tmp_path / "t.json", {"a": "${$host.x}", "b": "${utcNow('yyyy')}"})
    host = write(tmp_path / "h.json", {"x": 1})
    assert (
        main(
            ["render", "--template", template, "--host", host, "--now", "2020-05-05T00:00:00+00:00"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out) == {"a": 1, "b": "2020"}


def test_render_refuses_a_broken_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = write(tmp_path / "t.json", {"a": "${1 +}"})
    assert main(["render", "--template", template]) == 1
    assert "t.json /a: unexpected end of the expression" in capsys.readouterr().err


def test_render_takes_a_root_array(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = write(
        tmp_path / "t.json",
        {"body": [{"type": "TextBlock", "$data": "${$root}", "text": "${$index + 1}. ${Title}"}]},
    )
    data = write(tmp_path / "d.json", [{"Title": "Printer"}, {"Title": "VPN"}])
    assert main(["render", "--template", template, "--data", data, "--compact"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "body": [
            {"type": "TextBlock", "text": "1. Printer"},
            {"type": "TextBlock", "text": "2. VPN"},
        ]
    }


@pytest.mark.parametrize(
    "data",
    [
        {"Session.TransferredTo.TenantName": "Legal"},
        {"Session": {"TransferredTo": {"TenantName": "Legal"}}},
    ],
    ids=["flat", "nested"],
)
def test_render_reads_dotted_keys_either_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, object]
) -> None:
    template = write(
        tmp_path / "t.json",
        {
            "path": "${Session.TransferredTo.TenantName}",
            "bracket": "${$root['Session.TransferredTo.TenantName']}",
        },
    )
    data_file = write(tmp_path / "d.json", data)
    assert main(["render", "--template", template, "--data", data_file]) == 0
    assert json.loads(capsys.readouterr().out) == {"path": "Legal", "bracket": "Legal"}


def test_render_without_data_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--template", str(TRANSFER), "--compact"]) == 0
    captured = capsys.readouterr()
    assert "no --data given" in captured.err
    assert json.loads(captured.out)["body"][0]["text"] == "You're now with "


def test_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(TRANSFER)]) == 0
    assert capsys.readouterr().out == (
        f"{TRANSFER}: OK: 9 bindings compile, the card renders with sample data for every path "
        "it reads, and it is a valid Adaptive Card 1.5\n"
    )
    bad = write(
        tmp_path / "bad.json",
        {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Image"}]},
    )
    assert main(["check", str(TRANSFER), bad]) == 1
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"{bad}: rendered card at /body/0: 'url' is a required property"
    ]


def test_functions_lists_the_engine_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["functions"]) == 0
    out = capsys.readouterr().out
    assert "- strings (20): `concat`" in out
    assert "`convertFromUTC`" in out and "`isMatch`" in out
    assert "- not supported: `jPath`" in out


def test_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cards", "render", "--template", str(TRANSFER), "--compact"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["type"] == "AdaptiveCard"
    assert "has no value" in result.stderr
