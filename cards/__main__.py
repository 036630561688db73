"""Preview and check card templates from the command line (for admins writing cards).

    python -m cards render --template cards/templates/transfer.json --data session.json
    python -m cards check cards/templates/*.json

`render` prints the expanded card. `--data` is a session's metadata as the bot stores it: a JSON
object with dotted keys ({"Session.TransferredTo.TenantName": "Human Resources"}). Keys without
dots are kept as they are, so an already nested object ({"Session": {…}}) works too. Bindings
without a value are reported on stderr, as the bot logs them. `check` runs the start-up checks
(`cards.validate.check_template`) and prints one problem per line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cards.errors import CardError
from cards.template import compile_template, nest


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SystemExit(f"cannot read the {what} {path}: {error.strerror}") from error
    except ValueError as error:
        raise SystemExit(f"the {what} {path} is not JSON: {error}") from error


def _render(arguments: argparse.Namespace) -> int:
    template = _read_json(arguments.template, "template")
    metadata = _read_json(arguments.data, "data") if arguments.data else {}
    if not isinstance(metadata, dict):
        raise SystemExit(f"the data {arguments.data} must be a JSON object")
    host = _read_json(arguments.host, "host data") if arguments.host else None
    now = datetime.fromisoformat(arguments.now) if arguments.now else None
    if now is not None and now.tzinfo is None:
        raise SystemExit("--now needs a time zone, e.g. 2024-01-31T09:30:00+00:00")
    card = compile_template(template, Path(arguments.template).name).expand(
        nest(metadata), host=host, now=now
    )
    json.dump(card, sys.stdout, ensure_ascii=False, indent=None if arguments.compact else 2)
    sys.stdout.write("\n")
    return 0


def _check(arguments: argparse.Namespace) -> int:
    from cards.validate import check_template

    failed = False
    for path in arguments.templates:
        problems = check_template(_read_json(path, "template"), path)
        for problem in problems:
            print(problem)
        failed = failed or bool(problems)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `render` or `check` command; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m cards", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="print a template expanded with session data")
    render.add_argument("--template", required=True, help="the card template (JSON)")
    render.add_argument("--data", help="session metadata: a JSON object with dotted keys")
    render.add_argument("--host", help="JSON data the template reads as $host")
    render.add_argument("--now", help="freeze utcNow(), e.g. 2024-01-31T09:30:00+00:00")
    render.add_argument("--compact", action="store_true", help="print the card on one line")
    check = commands.add_parser("check", help="check templates the way the bot does at start-up")
    check.add_argument("templates", nargs="+", help="card templates (JSON)")
    arguments = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return _render(arguments) if arguments.command == "render" else _check(arguments)
    except CardError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
