"""The configuration format: tenants, their pipelines and stages, validated at start-up.

A configuration is one YAML file. Card templates are JSON files named relative to the
configuration's folder, falling back to the templates shipped in `cards/templates/`.
Every problem is reported as one line naming file, tenant, stage and field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cards import CompiledTemplate, TemplateError, compile_template
from cards.validate import check_template
from errors import ConfigError
from pipeline.stages import STAGE_TYPE_NAMES, AnyStage, Stage
from pipeline.stages.base import SLUG, CheckContext

BUILTIN_TEMPLATES = Path(__file__).resolve().parent.parent / "cards" / "templates"
EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "config" / "example.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pipeline(_Model):
    """An ordered list of stages; a chat starts at the first."""

    stages: Annotated[list[Stage], Field(min_length=1)]


class Tenant(_Model):
    """A department: its pipelines, which of them is primary, and whom it accepts chats from."""

    id: Annotated[str, Field(pattern=SLUG)]
    name: Annotated[str, Field(min_length=1)]
    enabled: bool = True
    accepts_transfers_from: list[str] | None = None
    primary_pipeline: str
    pipelines: dict[str, Pipeline]


class ConfigFile(_Model):
    """The whole configuration file."""

    front_door: str
    max_transfers_per_chat: Annotated[int, Field(ge=1, le=100)] = 5
    tenants: Annotated[list[Tenant], Field(min_length=1)]


@dataclass(frozen=True, slots=True)
class StageRef:
    """A stage with where it lives."""

    tenant: Tenant
    pipeline: str
    stage: AnyStage


class Config:
    """The validated configuration, indexed for the runtime: tenants, pipelines, stages, cards."""

    def __init__(
        self, config: ConfigFile, templates: dict[str, CompiledTemplate], source: Path
    ) -> None:
        self.file = config
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
        return self.tenants[self.file.front_door]

    @property
    def max_transfers_per_chat(self) -> int:
        return self.file.max_transfers_per_chat

    def stage(self, tenant_id: str, pipeline: str, key: str) -> StageRef:
        return self._stages[(tenant_id, pipeline)][key]

    def find_stage(self, tenant_id: str, pipeline: str, key: str) -> StageRef | None:
        """The stage, or None if this configuration has no such tenant, pipeline or stage."""
        return self._stages.get((tenant_id, pipeline), {}).get(key)

    def first_stage(self, tenant_id: str, pipeline: str) -> StageRef:
        first = self.tenants[tenant_id].pipelines[pipeline].stages[0]
        return self._stages[(tenant_id, pipeline)][first.key]


def load_config(path: Path) -> Config:
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
        config = ConfigFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(
            [_describe(path, raw, err["loc"], err["msg"], err["type"]) for err in error.errors()]
        ) from None
    problems, templates = _check(path, config)
    if problems:
        raise ConfigError(problems)
    return Config(config, templates, path)


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


_STAGE_TYPES = tuple(sorted(STAGE_TYPE_NAMES))


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


def _check(path: Path, config: ConfigFile) -> tuple[list[str], dict[str, CompiledTemplate]]:
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
    stage: AnyStage,
    keys: list[str],
    duplicate: bool,
    tenant_ids: list[str],
    templates: dict[str, CompiledTemplate],
    broken: set[str],
) -> Iterator[tuple[str, str]]:
    """(field, problem) pairs for one stage: its references to keys and templates, its texts,
    and what its own type checks."""
    if duplicate:
        yield "key", "duplicate stage key in this pipeline"
    for field, target in stage.transitions():
        if target and target not in keys:
            yield field, f"transition to '{target}', which is not a stage of this pipeline"
    yield from stage.problems(CheckContext(tenant_ids))
    for field, name in stage.templates():
        problem = _load_template(path, name, templates, broken)
        if problem:
            yield field, problem
    for field, text in stage.texts():
        try:
            compile_template(text, field)
        except TemplateError as error:
            shown = f" in ${{{error.expression}}}" if error.expression else ""
            yield field, f"cannot be parsed: {error.reason}{shown}"


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
