"""Preview and check card templates from the command line (for admins writing cards).

    python -m cards render --template cards/templates/transfer.json --data session.json
    python -m cards check cards/templates/*.json
    python -m cards functions

`render` prints the expanded card. `--data` is sample data as an admin pastes it into the
Designer: a session's metadata with dotted keys ({"Session.TransferredTo.TenantName": "Human
Resources"}), the same nested ({"Session": {…}}), or a list (a root array, for `$data` repeats).
Bindings without a value are reported on stderr, as the bot logs them. `check` runs the start-up
checks (`cards.validate.check_template`): one line per problem, or one line per template saying
what was checked. `functions` lists the functions templates may call.
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

from cards._functions import function_list
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
    if arguments.data:
        data: Any = _read_json(arguments.data, "data")
    else:
        print(
            "no --data given: rendering with empty data, so every binding renders as empty text",
            file=sys.stderr,
        )
        data = {}
    host = _read_json(arguments.host, "host data") if arguments.host else None
    now = datetime.fromisoformat(arguments.now) if arguments.now else None
    if now is not None and now.tzinfo is None:
        raise SystemExit("--now needs a time zone, e.g. 2024-01-31T09:30:00+00:00")
    card = compile_template(template, Path(arguments.template).name).expand(
        nest(data) if isinstance(data, dict) else data, host=host, now=now
    )
    json.dump(card, sys.stdout, ensure_ascii=False, indent=None if arguments.compact else 2)
    sys.stdout.write("\n")
    return 0


def _check(arguments: argparse.Namespace) -> int:
    from cards.validate import binding_count, check_template

    failed = False
    for path in arguments.templates:
        template = _read_json(path, "template")
        problems = check_template(template, path)
        for problem in problems:
            print(problem)
        if not problems:
            count = binding_count(template)
            print(
                f"{path}: OK: {count} binding{'' if count == 1 else 's'} compile, the card "
                "renders with sample data for every path it reads, and it is a valid "
                "Adaptive Card 1.5"
            )
        failed = failed or bool(problems)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `render` or `check` command; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m cards", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="print a template expanded with session data")
    render.add_argument("--template", required=True, help="the card template (JSON)")
    render.add_argument(
        "--data", help="sample data: metadata with dotted keys, nested objects, or a list"
    )
    render.add_argument("--host", help="JSON data the template reads as $host")
    render.add_argument("--now", help="freeze utcNow(), e.g. 2024-01-31T09:30:00+00:00")
    render.add_argument("--compact", action="store_true", help="print the card on one line")
    check = commands.add_parser("check", help="check templates the way the bot does at start-up")
    check.add_argument("templates", nargs="+", help="card templates (JSON)")
    commands.add_parser("functions", help="list the functions templates may call")
    arguments = parser.parse_args(argv)
    if arguments.command == "functions":
        sys.stdout.write(function_list())
        return 0

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return _render(arguments) if arguments.command == "render" else _check(arguments)
    except CardError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
