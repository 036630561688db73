"""Helpers shared by the card tests: the reference engine client, the corpus, JSON comparison."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cards import TemplateError, compile_template

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_JS = Path(__file__).with_name("reference.js")
CORPUS = Path(__file__).with_name("corpus")
TEMPLATES = ROOT / "cards" / "templates"


class Reference:
    """Microsoft's engine in one long-lived node process, one JSON line per expansion."""

    def __init__(self, time_zone: str = "UTC") -> None:
        # Lives as long as the node process (closed in close()); holds its error output.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        env = {**os.environ, "TZ": time_zone, "LANG": "en_US.UTF-8"}
        env.pop("LC_ALL", None)
        self._process = subprocess.Popen(
            ["node", str(REFERENCE_JS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=ROOT,
            env=env,
            text=True,
            encoding="utf-8",
        )

    def expand(
        self, template: Any, data: Any, *, host: Any = None, now: datetime | None = None
    ) -> dict[str, Any]:
        """{"value": card} | {"undefined": True} | {"error": message} from Microsoft's engine."""
        request: dict[str, Any] = {"template": template, "data": data}
        if host is not None:
            request["host"] = host
        if now is not None:
            request["now"] = round(now.timestamp() * 1000)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            self._stderr.seek(0)
            message = self._stderr.read().decode("utf-8", "replace")
            raise RuntimeError(f"the reference engine (node) exited: {message}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def functions(self) -> list[str]:
        """Every function name adaptive-expressions registers (`Expression.functions`)."""
        return list(self._ask({"op": "functions"})["value"])

    def used(self, expression: str) -> list[str]:
        """The registered functions Microsoft's parser finds in an expression (paths included:
        `a.b` is `Accessor`, `a[0]` is `Element`)."""
        return list(self._ask({"op": "used", "expression": expression})["value"])

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the reference engine (node) exited")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"the reference engine refused {request}: {reply['error']}")
        return reply

    def close(self) -> None:
        """Stop the node process (it exits when its stdin closes)."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()


def same(left: Any, right: Any) -> bool:
    """JSON equality telling `true` from `1` but not `2` from `2.0` (JavaScript has one number)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return float(left) == float(right)  # JSON numbers are doubles to both engines
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[key], right[key]) for key in left)
    return type(left) is type(right) and left == right


def ours(
    template: Any, data: Any, *, host: Any = None, now: datetime | None = None
) -> dict[str, Any]:
    """Our engine's answer in the reference's shape ({"value": …} or {"error": …})."""
    try:
        compiled = compile_template(template, "corpus", report=lambda issue: None)
    except TemplateError as error:
        return {"error": str(error)}
    return {"value": compiled.expand(data, host=host, now=now)}


def agree(reference: dict[str, Any], mine: dict[str, Any]) -> bool:
    """Both engines refused the template, or both produced the same card."""
    if "error" in reference or "error" in mine:
        return "error" in reference and "error" in mine
    return "value" in reference and same(reference["value"], mine["value"])


@dataclass
class Case:
    """One corpus entry: a template, its data, and (for a deliberate difference) our result."""

    name: str
    template: Any
    data: Any
    host: Any = None
    now: datetime | None = None
    difference: str | None = None
    expect: Any = None
    expect_error: bool = False
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.name


def _case(raw: dict[str, Any], defaults: dict[str, Any], source: str) -> Case:
    template = raw["template"] if "template" in raw else "${" + raw["expr"] + "}"
    now = raw.get("now")
    return Case(
        name=f"{source}:{raw['name']}",
        template=template,
        data=raw.get("data", defaults),
        host=raw.get("host"),
        now=datetime.fromisoformat(now).astimezone(UTC) if now else None,
        difference=raw.get("difference"),
        expect=raw.get("expect"),
        expect_error=raw.get("expect_error", False),
        source=source,
    )


def load_corpus() -> list[Case]:
    """Every case of every file in tests/cards/corpus/."""
    cases: list[Case] = []
    for path in sorted(CORPUS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        defaults = document.get("data", {})
        cases += [_case(raw, defaults, path.stem) for raw in document["cases"]]
    return cases


def card_templates() -> list[Path]:
    """The card templates the bot ships (cards/templates/*.json)."""
    return sorted(TEMPLATES.glob("*.json"))


def all_templates() -> list[Path]:
    """The shipped templates plus richer ones kept for the tests (tests/cards/templates/)."""
    return card_templates() + sorted(Path(__file__).with_name("templates").glob("*.json"))
