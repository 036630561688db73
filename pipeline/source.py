"""The configuration file as written: its data, and the line each value was written on.

Reading reports what stops a file from being read at all in one line naming the file and the
line: an encoding other than UTF-8, YAML syntax (with a hint for the usual causes), and keys
written twice in one mapping (YAML would silently keep only the last).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pipeline.findings import Finding, Where, error

#: A path into the configuration's data: mapping keys and list indexes.
DataPath = tuple[Any, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Source:
    """A configuration file's data and where each part of it was written."""

    path: Path
    data: Any
    #: The line (1-based) of each mapping key and list item, by data path.
    lines: dict[DataPath, int] = field(default_factory=dict)
    #: Plain (unquoted) scalar values as written, by data path: YAML reads `Yes` as true.
    written: dict[DataPath, str] = field(default_factory=dict)
    #: Keys written twice in one mapping (YAML keeps only the last).
    duplicates: list[Duplicate] = field(default_factory=list)

    def line(self, path: Sequence[Any]) -> int | None:
        """The line of `path`, or of its closest ancestor written in the file."""
        steps = tuple(path)
        while steps:
            if steps in self.lines:
                return self.lines[steps]
            steps = steps[:-1]
        return None

    def where_of(self, path: Sequence[Any]) -> Where:
        """Where `path` is: its line, and the tenant, pipeline, stage and field it belongs to.

        The pipeline is named when the finding is about the pipeline itself, or when its tenant
        has several (stage keys are a pipeline's own)."""
        steps = tuple(path)
        tenant = pipeline = stage = None
        rest = steps
        if len(steps) >= 2 and steps[0] == "tenants" and isinstance(steps[1], int):
            tenant_node = _child(_child(self.data, "tenants"), steps[1])
            tenant = _name(tenant_node, "id", steps[1])
            rest = steps[2:]
            if len(rest) >= 2 and rest[0] == "pipelines":
                pipelines = _child(tenant_node, "pipelines")
                pipeline = str(rest[1])
                stages = _child(_child(pipelines, rest[1]), "stages")
                rest = rest[2:]
                if len(rest) >= 2 and rest[0] == "stages" and isinstance(rest[1], int):
                    stage = _name(_child(stages, rest[1]), "key", rest[1])
                    rest = rest[2:]
                    if not (isinstance(pipelines, dict) and len(pipelines) > 1):
                        pipeline = None
        return Where(self.path, self.line(steps), tenant, pipeline, stage, field_name(rest))


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A key written a second time in one mapping."""

    mapping: DataPath
    key: str
    line: int
    first_line: int


class SourceError(Exception):
    """The file cannot be read as a configuration; `findings` says why."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        super().__init__("\n".join(str(f) for f in findings))


def read_source(path: Path) -> Source:
    """Read and parse `path`; `SourceError` when it cannot be read, decoded or parsed."""
    try:
        raw = path.read_bytes()
    except OSError as problem:
        raise SourceError(
            [error(Where(path), f"cannot read the configuration: {problem.strerror}")]
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as problem:
        raise SourceError([_not_utf8(path, raw, problem)]) from None
    loader = yaml.SafeLoader(text)
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as problem:
        raise SourceError([_yaml_error(path, problem)]) from None
    except yaml.YAMLError as problem:
        raise SourceError([error(Where(path), f"not valid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    source = Source(path, data)
    if node is not None:
        _index(source, node, data, ())
    return source


def field_name(steps: Sequence[Any]) -> str | None:
    """`choices[1].next` for the steps ("choices", 1, "next"); None for no steps. A key with a
    dot in it (an app role's value) is written `roles["Crossdesk.Admin"]`."""
    text = ""
    for step in steps:
        if isinstance(step, int):
            text += f"[{step}]"
        elif "." in str(step):
            text += f'["{step}"]'
        else:
            text += f".{step}" if text else str(step)
    return text or None


def _child(node: Any, step: Any) -> Any:
    if isinstance(node, dict):
        return node.get(step)
    if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
        return node[step]
    return None


def _name(node: Any, key: str, index: int) -> str:
    """An item's own name (a tenant's id, a stage's key), or `#3` for the third item."""
    if isinstance(node, dict) and isinstance(node.get(key), str) and node[key]:
        return str(node[key])
    return f"#{index + 1}"


def _not_utf8(path: Path, raw: bytes, problem: UnicodeDecodeError) -> Finding:
    before = raw[: problem.start]
    line = before.count(b"\n") + 1
    column = problem.start - (before.rfind(b"\n") + 1) + 1
    hint = "save it as UTF-8"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        hint = "it looks like UTF-16 (Windows' 'Unicode'); save it as UTF-8"
    return error(
        Where(path, line),
        f"not UTF-8 text: byte 0x{raw[problem.start]:02x} at column {column} cannot be read;"
        f" {hint}",
    )


#: Hints for YAML's own messages, for the mistakes admins make most.
_HINTS = (
    ("'\\t'", "indent with spaces; YAML does not allow tabs"),
    (
        "mapping values are not allowed here",
        "a value that contains ': ' must be quoted (text: \"Note: …\"), and a line must not be"
        " indented more than the one before it",
    ),
    (
        "could not find expected ':'",
        "check the indentation of this line and the line before it",
    ),
    (
        "did not find expected key",
        "check the indentation: items of one list or mapping start in the same column",
    ),
    (
        "found character '`'",
        "a value that starts with ` must be quoted",
    ),
    (
        "found character '@'",
        "a value that starts with @ must be quoted",
    ),
)


def _yaml_error(path: Path, problem: yaml.MarkedYAMLError) -> Finding:
    mark = problem.problem_mark or problem.context_mark
    line = mark.line + 1 if mark is not None else None
    column = f", column {mark.column + 1}" if mark is not None else ""
    what = problem.problem or "cannot be parsed"
    if problem.context and problem.context_mark is not None and problem.context_mark != mark:
        what += f" ({problem.context} at line {problem.context_mark.line + 1})"
    hint = next((hint for needle, hint in _HINTS if needle in what), None)
    message = f"not valid YAML{column}: {what}" + (f"; {hint}" if hint else "")
    return error(Where(path, line), message)


def _index(source: Source, node: Node, data: Any, path: DataPath) -> None:
    """Record the line of every key and item under `node` (whose value is `data`)."""
    if isinstance(node, MappingNode) and isinstance(data, dict):
        seen: dict[str, int] = {}
        keys = {str(key): key for key in data}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            written = key_node.value
            line = key_node.start_mark.line + 1
            if written in seen:
                # YAML keeps the last value: index that one.
                source.duplicates.append(Duplicate(path, written, line, seen[written]))
            seen[written] = line
            key = keys.get(written, _constructed_key(written, data))
            if key is None:
                continue
            child = (*path, key)
            source.lines[child] = line
            _note_written(source, child, value_node)
            _index(source, value_node, data[key], child)
    elif isinstance(node, SequenceNode) and isinstance(data, list):
        for index, (item_node, item) in enumerate(zip(node.value, data, strict=False)):
            child = (*path, index)
            source.lines[child] = item_node.start_mark.line + 1
            _note_written(source, child, item_node)
            _index(source, item_node, item, child)


def _constructed_key(written: str, data: dict[Any, Any]) -> Any:
    """The data key YAML made of a key written as `written` (`yes:` becomes True)."""
    for key in data:
        if not isinstance(key, str) and str(key).lower() == written.lower():
            return key
    return None


def _note_written(source: Source, path: DataPath, node: Node) -> None:
    if isinstance(node, ScalarNode) and node.style is None:
        source.written[path] = node.value
