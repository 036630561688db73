"""The `crossdesk` command as an admin meets it: installed as a console script, the README's
examples as written, the card tools under it, and a port already in use said in one line."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

from storage.sqlite import SqliteStore
from tests.storage.chats import NOW
from tests.storage.visits import visit
from tests.support.config import TEST_CONFIG
from tests.support.ports import unused_port

ROOT = Path(__file__).resolve().parent.parent
CROSSDESK = Path(sys.executable).parent / "crossdesk"


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_console_script_is_installed_and_names_itself() -> None:
    result = run([str(CROSSDESK), "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: crossdesk [-h] COMMAND ...")
    for command in ("run", "check", "sessions", "manifest", "cards", "schema"):
        assert re.search(rf"^\s+{command}\b", result.stdout, re.MULTILINE), command


def test_cards_commands_run_under_crossdesk() -> None:
    checked = run([str(CROSSDESK), "cards", "check", "cards/templates/transfer.json"])
    assert checked.returncode == 0
    assert checked.stdout.startswith("cards/templates/transfer.json: OK:")
    listed = run([str(CROSSDESK), "cards", "functions"])
    assert "- strings (20): `concat`" in listed.stdout


def test_a_port_in_use_is_reported_in_one_line(tmp_path: Path) -> None:
    port = unused_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = run(
            [sys.executable, "app.py", "run"],
            env={
                "PORT": str(port),
                "CROSSDESK_CONFIG": str(TEST_CONFIG),
                "CROSSDESK_SQLITE_PATH": str(tmp_path / "store.sqlite3"),
                "LOG_LEVEL": "INFO",
            },
        )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"Crossdesk cannot listen on http://127.0.0.1:{port}: the port is in use (another"
        " Crossdesk? set PORT to a free port)"
    ]
    assert "Crossdesk on http" not in result.stderr


def readme_commands() -> list[str]:
    """Every `.venv/bin/crossdesk …` line of the README's shell examples, without comments."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line.split("  #")[0].strip() for line in lines if ".venv/bin/crossdesk" in line]


def test_the_readmes_examples_run_as_written(tmp_path: Path) -> None:
    """Each example, run from the repository with `.venv/bin/crossdesk` (serving and the
    package aside); placeholders (new.yaml, a session id) stand for a file and a chat here."""
    new = tmp_path / "new.yaml"
    new.write_text((ROOT / "config" / "example.yaml").read_text(encoding="utf-8"))
    store = tmp_path / "store.sqlite3"

    async def one_chat() -> str:
        opened = SqliteStore(store)
        try:
            sessions = await visit(
                opened,
                "a:1readme",
                guest="Megan Bowen",
                email="megan@contoso.com",
                started=NOW,
                transfer_to="hr",
            )
        finally:
            await opened.close()
        return sessions[0].id

    session = asyncio.run(one_chat())
    commands = readme_commands()
    assert len(commands) >= 10
    ran = 0
    for command in commands:
        if re.search(r"crossdesk (run|manifest)\b", command):
            continue  # serving, and the package (tests/test_manifest.py), are tested elsewhere
        words = shlex.split(command.replace("new.yaml", str(new)).replace("3f2a9c1b", session[:8]))
        env = {"CROSSDESK_SQLITE_PATH": str(store), "CROSSDESK_CONFIG": str(new)}
        while "=" in words[0]:
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        assert words[0] == ".venv/bin/crossdesk"
        result = run([str(ROOT / words[0]), *words[1:]], env)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        ran += 1
    assert ran >= 8


def _served_requests(tmp_path: Path, env: dict[str, str]) -> str:
    """What `python app.py run` logs while it answers two requests, then stops."""
    port = unused_port()
    process = subprocess.Popen(
        [sys.executable, "app.py", "run"],
        cwd=ROOT,
        env={
            **os.environ,
            "PORT": str(port),
            "CROSSDESK_CONFIG": str(TEST_CONFIG),
            "CROSSDESK_SQLITE_PATH": str(tmp_path / "store.sqlite3"),
            "CROSSDESK_SWEEP_SECONDS": "0",
            "LOG_LEVEL": "INFO",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines = []
        while not any("Crossdesk on http" in line for line in lines):
            line = process.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while connection.recv(4096):
                    pass
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=30)
    return "".join(lines) + rest


def test_requests_are_logged_one_line_each_only_with_the_access_log_on(tmp_path: Path) -> None:
    quiet = _served_requests(tmp_path, {})
    assert "GET /healthz" not in quiet
    logged = _served_requests(tmp_path, {"CROSSDESK_ACCESS_LOG": "on"})
    assert logged.count('"GET /healthz HTTP/1.1" 200') == 2
    assert "aiohttp.access" in logged
    refused = run([sys.executable, "app.py", "run"], env={"CROSSDESK_ACCESS_LOG": "loud"})
    assert refused.returncode == 2
    assert "CROSSDESK_ACCESS_LOG: on or off, not 'loud'" in refused.stderr
