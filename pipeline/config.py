"""The configuration format: tenants, their pipelines and stages, validated at start-up.

A configuration is one YAML file. Card templates are JSON files named relative to the
configuration's folder, falling back to the templates shipped in `cards/templates/`.
Every problem is reported as one line naming file, tenant, stage and field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cards import CompiledTemplate, TemplateError, compile_template
from cards.validate import check_template
from errors import ConfigError

BUILTIN_TEMPLATES = Path(__file__).resolve().parent.parent / "cards" / "templates"
EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "config" / "example.yaml"

_SLUG = r"^[a-z0-9][a-z0-9_-]*$"
_METADATA_KEY = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
_PROTECTED_METADATA = ("Session.",)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _StageBase(_Model):
    key: Annotated[str, Field(pattern=_SLUG)]


class MessageStage(_StageBase):
    """Send text and/or an Adaptive Card, then go on to `next` (blank ends the chat)."""

    type: Literal["message"]
    text: str | None = None
    card: str | None = None
    next: str | None = None


class QuestionStage(_StageBase):
    """Ask, wait for the guest's answer and store it under the metadata key `store_as`."""

    type: Literal["question"]
    text: str
    store_as: Annotated[str, Field(pattern=_METADATA_KEY)]
    next: str | None = None


class Choice(_Model):
    """One button of an options card; `value` (default: the title) is what gets stored."""

    title: Annotated[str, Field(min_length=1)]
    value: str | None = None
    next: str | None = None

    @property
    def stored_value(self) -> str:
        return self.value if self.value is not None else self.title


class OptionsStage(_StageBase):
    """Offer an Adaptive Card of choices; the picked choice is stored and names the next stage."""

    type: Literal["options"]
    text: str
    store_as: Annotated[str | None, Field(pattern=_METADATA_KEY)] = None
    choices: Annotated[list[Choice], Field(min_length=1)]


class TenantTransferStage(_StageBase):
    """Move the chat to another tenant's primary pipeline, sending a card from `template`.

    `tenant` is a tenant id or a `${…}` expression over metadata. When the transfer cannot be
    made (missing or disabled tenant, not accepted, too many transfers) the guest is told
    `failure_text` and the chat goes on at `on_failure` (blank ends it).
    """

    type: Literal["tenant_transfer"]
    tenant: Annotated[str, Field(min_length=1)]
    template: str
    on_failure: str | None = None
    failure_text: str = "Sorry, I couldn't transfer you to that team right now."


class EndStage(_StageBase):
    """Close the chat with an optional message; the session ends as `ended`."""

    type: Literal["end"]
    text: str | None = None
    resolution: str = "resolved"


Stage = Annotated[
    MessageStage | QuestionStage | OptionsStage | TenantTransferStage | EndStage,
    Field(discriminator="type"),
]


class Pipeline(_Model):
    """An ordered list of stages; a chat starts at the first."""

    stages: Annotated[list[Stage], Field(min_length=1)]


class Tenant(_Model):
    """A department: its pipelines, which of them is primary, and whom it accepts chats from."""

    id: Annotated[str, Field(pattern=_SLUG)]
    name: Annotated[str, Field(min_length=1)]
    enabled: bool = True
    accepts_transfers_from: list[str] | None = None
    primary_pipeline: str
    pipelines: dict[str, Pipeline]


class CrossdeskConfig(_Model):
    """The whole configuration file."""

    front_door: str
    max_transfers_per_chat: Annotated[int, Field(ge=1, le=100)] = 5
    tenants: Annotated[list[Tenant], Field(min_length=1)]


@dataclass(frozen=True, slots=True)
class StageRef:
    """A stage with where it lives."""

    tenant: Tenant
    pipeline: str
    stage: MessageStage | QuestionStage | OptionsStage | TenantTransferStage | EndStage


class Directory:
    """The validated configuration, indexed for the runtime: tenants, pipelines, stages, cards."""

    def __init__(
        self, config: CrossdeskConfig, templates: dict[str, CompiledTemplate], source: Path
    ) -> None:
        self.config = config
        self.source = source
        self.templates = templates
        self.tenants = {tenant.id: tenant for tenant in config.tenants}
        self._stages: dict[tuple[str, str], dict[str, StageRef]] = {
            (tenant.id, name): {
                stage.key: StageRef(tenant, name, stage) for stage in pipeline.stages
            }
            for tenant in config.tenants
            for name, pipeline in tenant.pipelines.items()
        }

    @property
    def front_door(self) -> Tenant:
        return self.tenants[self.config.front_door]

    def stage(self, tenant_id: str, pipeline: str, key: str) -> StageRef:
        return self._stages[(tenant_id, pipeline)][key]

    def first_stage(self, tenant_id: str, pipeline: str) -> StageRef:
        first = self.tenants[tenant_id].pipelines[pipeline].stages[0]
        return self._stages[(tenant_id, pipeline)][first.key]

    def pipelines(self) -> Iterator[tuple[Tenant, str]]:
        for tenant in self.config.tenants:
            for name in tenant.pipelines:
                yield tenant, name

    def template(self, name: str) -> CompiledTemplate:
        return self.templates[name]


def load_directory(path: Path) -> Directory:
    """Read, parse and validate a configuration file, raising `ConfigError` on any problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError([f"{path}: cannot read the configuration: {error.strerror}"]) from None
    except yaml.YAMLError as error:
        raise ConfigError([f"{path}: not valid YAML: {error}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: the configuration must be a mapping with `tenants`"])
    try:
        config = CrossdeskConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(
            [_describe(path, raw, err["loc"], err["msg"], err["type"]) for err in error.errors()]
        ) from None
    problems, templates = _check(path, config)
    if problems:
        raise ConfigError(problems)
    return Directory(config, templates, path)


def _where(
    path: Path, tenant: str | None = None, stage: str | None = None, field: str | None = None
) -> str:
    parts = [str(path)]
    if tenant is not None:
        parts.append(f"tenant '{tenant}'")
    if stage is not None:
        parts.append(f"stage '{stage}'")
    if field is not None:
        parts.append(f"field '{field}'")
    return ", ".join(parts)


_STAGE_TYPES = ("end", "message", "options", "question", "tenant_transfer")


def _describe(path: Path, raw: Any, loc: tuple[Any, ...], msg: str, kind: str) -> str:
    """Name file, tenant, stage and field for a pydantic error location such as
    `("tenants", 0, "pipelines", "main", "stages", 2, "question", "store_as")`."""
    tenant = stage = None
    fields: list[str] = []
    node: Any = raw
    previous: Any = None
    for step in loc:
        node = node[step] if _has(node, step) else None
        if previous == "tenants":
            tenant = _label(node, "id", f"#{step + 1}")
        elif previous == "stages":
            stage = _label(node, "key", f"#{step + 1}")
        elif stage and not fields and step in _STAGE_TYPES:
            pass  # the discriminator tag pydantic adds to the location
        elif previous == "pipelines" or step in ("tenants", "pipelines", "stages"):
            pass
        elif isinstance(step, int) and fields:
            fields[-1] += f"[{step}]"
        else:
            fields.append(str(step))
        previous = step
    if kind == "union_tag_invalid":
        fields, msg = ["type"], f"unknown stage type; expected one of {', '.join(_STAGE_TYPES)}"
    elif kind == "union_tag_not_found":
        fields, msg = ["type"], "missing stage type"
    return f"{_where(path, tenant, stage, '.'.join(fields) or None)}: {msg}"


def _has(container: Any, step: Any) -> bool:
    if isinstance(container, dict):
        return step in container
    if isinstance(container, list) and isinstance(step, int):
        return 0 <= step < len(container)
    return False


def _label(node: Any, key: str, fallback: str) -> str:
    if isinstance(node, dict) and isinstance(node.get(key), str):
        return str(node[key])
    return fallback


_EXPRESSION = re.compile(r"\$\{")


def _check(path: Path, config: CrossdeskConfig) -> tuple[list[str], dict[str, CompiledTemplate]]:
    """Cross-references pydantic cannot see: keys, transitions, tenants, templates."""
    problems: list[str] = []
    templates: dict[str, CompiledTemplate] = {}
    broken: set[str] = set()
    tenant_ids = [tenant.id for tenant in config.tenants]
    known = set(tenant_ids)
    for tenant_id in {t for t in tenant_ids if tenant_ids.count(t) > 1}:
        problems.append(f"{_where(path, tenant_id, None, 'id')}: duplicate tenant id")
    if config.front_door not in known:
        problems.append(
            f"{_where(path, field='front_door')}: '{config.front_door}' is not a tenant"
            f" (tenants: {', '.join(tenant_ids)})"
        )
    for tenant in config.tenants:
        if tenant.primary_pipeline not in tenant.pipelines:
            problems.append(
                f"{_where(path, tenant.id, None, 'primary_pipeline')}: no pipeline named"
                f" '{tenant.primary_pipeline}' (pipelines: {', '.join(tenant.pipelines)})"
            )
        for sender in tenant.accepts_transfers_from or []:
            if sender not in known:
                problems.append(
                    f"{_where(path, tenant.id, None, 'accepts_transfers_from')}:"
                    f" '{sender}' is not a tenant"
                )
        for pipeline in tenant.pipelines.values():
            keys = [stage.key for stage in pipeline.stages]
            for index, stage in enumerate(pipeline.stages):
                duplicate = stage.key in keys[:index]
                problems += [
                    f"{_where(path, tenant.id, stage.key, field)}: {problem}"
                    for field, problem in _stage_problems(
                        path, stage, keys, duplicate, tenant_ids, templates, broken
                    )
                ]
    return problems, templates


def _stage_problems(
    path: Path,
    stage: Any,
    keys: list[str],
    duplicate: bool,
    tenant_ids: list[str],
    templates: dict[str, CompiledTemplate],
    broken: set[str],
) -> Iterator[tuple[str, str]]:
    """(field, problem) pairs for one stage's references to keys, tenants and templates."""
    if duplicate:
        yield "key", "duplicate stage key in this pipeline"
    for field, target in _transitions(stage):
        if target and target not in keys:
            yield field, f"transition to '{target}', which is not a stage of this pipeline"
    if isinstance(stage, QuestionStage | OptionsStage) and (stage.store_as or "").startswith(
        _PROTECTED_METADATA
    ):
        yield "store_as", "Session.* keys are kept by Crossdesk itself"
    if isinstance(stage, MessageStage) and not (stage.text or stage.card):
        yield "text", "a message stage needs text or a card"
    if (
        isinstance(stage, TenantTransferStage)
        and not _EXPRESSION.search(stage.tenant)
        and stage.tenant not in tenant_ids
    ):
        yield (
            "tenant",
            f"transfer to '{stage.tenant}', which is not a tenant"
            f" (tenants: {', '.join(tenant_ids)})",
        )
    for field, name in _template_names(stage):
        problem = _load_template(path, name, templates, broken)
        if problem:
            yield field, problem
    for field, text in _texts(stage):
        try:
            compile_template(text, field)
        except TemplateError as error:
            shown = f" in ${{{error.expression}}}" if error.expression else ""
            yield field, f"cannot be parsed: {error.reason}{shown}"


def _texts(stage: Any) -> Iterator[tuple[str, str]]:
    """The stage's text settings that bind metadata with `${…}`."""
    for field in ("text", "failure_text", "tenant"):
        value = getattr(stage, field, None)
        if isinstance(value, str):
            yield field, value


def _transitions(stage: Any) -> Iterator[tuple[str, str | None]]:
    if isinstance(stage, OptionsStage):
        for index, choice in enumerate(stage.choices):
            yield f"choices[{index}].next", choice.next
    elif isinstance(stage, TenantTransferStage):
        yield "on_failure", stage.on_failure
    elif isinstance(stage, MessageStage | QuestionStage):
        yield "next", stage.next


def _template_names(stage: Any) -> Iterator[tuple[str, str]]:
    if isinstance(stage, TenantTransferStage):
        yield "template", stage.template
    elif isinstance(stage, MessageStage) and stage.card:
        yield "card", stage.card


def resolve_template(config_path: Path, name: str) -> Path:
    """A template named in the configuration: next to the configuration, else a shipped one."""
    beside = config_path.parent / name
    return beside if beside.exists() else BUILTIN_TEMPLATES / name


def _load_template(
    config_path: Path, name: str, templates: dict[str, CompiledTemplate], broken: set[str]
) -> str | None:
    """Load, check and compile a template once; a broken one is reported at its first use."""
    if name in templates or name in broken:
        return None
    broken.add(name)
    file = resolve_template(config_path, name)
    try:
        template = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return (
            f"template '{name}' not found (looked in {config_path.parent} and {BUILTIN_TEMPLATES})"
        )
    except (OSError, ValueError) as error:
        return f"template '{name}' ({file}) is not valid JSON: {error}"
    problems = check_template(template, str(file))
    if problems:
        return f"template '{name}' is not a valid Adaptive Card 1.5 template: " + "; ".join(
            problems
        )
    templates[name] = compile_template(template, str(file))
    broken.discard(name)
    return None
