"""The configuration format: tenants, their pipelines and stages, validated at start-up.

A configuration is one YAML file. Card templates are JSON files named relative to the
configuration's folder, falling back to the templates shipped in `cards/templates/`.
Every finding is one line naming file and line, tenant, pipeline (when a tenant has several),
stage and field. Errors stop start-up; warnings are logged (`strict` makes them errors).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from agents.model import ALL, Agent, AgentDirectory
from cards import CompiledTemplate
from errors import ConfigError
from integrations.model import Outbound, Webhook
from pipeline.findings import Finding, Severity, count, error, of_severity
from pipeline.hours import HOLIDAY, SPAN, BusinessHours, Week
from pipeline.source import DataPath, Source, SourceError, read_source
from pipeline.stages import STAGE_TYPE_NAMES, AnyStage, Stage
from pipeline.stages.base import LANGUAGE, METADATA_KEY, SLUG, Language

BUILTIN_TEMPLATES = Path(__file__).resolve().parent.parent / "cards" / "templates"
EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "config" / "example.yaml"
#: The JSON Schema of the configuration, generated from the models (`crossdesk schema`), for
#: editors: a YAML file starting `# yaml-language-server: $schema=crossdesk.schema.json` gets
#: completion and checks as it is typed.
SCHEMA_FILE = EXAMPLE_CONFIG.parent / "crossdesk.schema.json"


DURATION = r"^(\d+d)?(\d+h)?(\d+m)?$"
#: How long a chat waits for the guest: `8h`, `30m`, `1d`, `1h30m`.
Duration = Annotated[str, StringConstraints(pattern=DURATION, min_length=2)]
#: Chats with no message from the guest for this long are closed unless configured otherwise.
DEFAULT_IDLE_TIMEOUT = "8h"


def parse_duration(text: str) -> timedelta:
    """`1h30m` as a timedelta (the text matches `DURATION`)."""
    amounts = {unit: int(amount) for amount, unit in re.findall(r"(\d+)([dhm])", text)}
    return timedelta(
        days=amounts.get("d", 0), hours=amounts.get("h", 0), minutes=amounts.get("m", 0)
    )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pipeline(_Model):
    """An ordered list of stages; a chat starts at the first."""

    stages: Annotated[
        list[Stage],
        Field(min_length=1, description="The stages in order; a chat starts at the first."),
    ]


class Tenant(_Model):
    """A department: its pipelines, which of them is primary, and whom it accepts chats from."""

    id: Annotated[
        str,
        Field(
            pattern=SLUG,
            description="The tenant's id (lower-case letters, digits, '-' and '_'), as"
            " transfers and `front_door` name it.",
        ),
    ]
    name: Annotated[
        str,
        Field(min_length=1, description="The name guests see, e.g. 'Human Resources'."),
    ]
    enabled: Annotated[
        bool,
        Field(description="false: transfers to this tenant fail (its `on_failure` runs)."),
    ] = True
    accepts_transfers_from: Annotated[
        list[str] | None,
        Field(description="Tenant ids this tenant takes transfers from; absent: from any."),
    ] = None
    primary_pipeline: Annotated[
        str,
        Field(description="The pipeline a chat runs when it arrives here, new or transferred."),
    ]
    pipelines: Annotated[
        dict[str, Pipeline],
        Field(description="The tenant's pipelines by name, each a list of `stages`."),
    ]
    agents: Annotated[
        list[str],
        Field(description="Ids of the agents (see `agents`) who answer this tenant's chats."),
    ] = []
    agent_lists: Annotated[
        dict[str, list[str]],
        Field(
            description="Named lists of agent ids (e.g. tier2) that connect_agent stages and"
            " escalations can name instead of the tenant's `agents`."
        ),
    ] = {}
    default_language: Annotated[
        Language | None,
        Field(
            description="The language of this tenant's texts when a guest's own is not given"
            " (en, de, fr, es, …); absent: the configuration's `default_language`."
        ),
    ] = None
    idle_timeout: Annotated[
        Duration | None,
        Field(
            description="How long a chat here may go without a message from the guest before"
            " it is closed as abandoned (8h, 30m, 1d); absent: the configuration's."
        ),
    ] = None
    hours: Annotated[
        BusinessHours | None,
        Field(
            description="When this tenant answers chats (weekly hours, holidays, time zone);"
            " absent: always."
        ),
    ] = None


class Developer(_Model):
    """Who publishes the Teams app, as Teams shows it on the app's page."""

    name: Annotated[str, Field(description="Up to 32 characters.")] = "Crossdesk"
    website_url: Annotated[str, Field(description="An https:// page about the app.")] = (
        "https://github.com/crossdesk/crossdesk"
    )
    privacy_url: Annotated[str, Field(description="An https:// privacy statement.")] = (
        "https://github.com/crossdesk/crossdesk/blob/main/PRIVACY.md"
    )
    terms_of_use_url: Annotated[str, Field(description="An https:// terms of use page.")] = (
        "https://github.com/crossdesk/crossdesk/blob/main/LICENSE"
    )


class TeamsApp(_Model):
    """How the Teams app looks to employees: names, descriptions, publisher, colour, icons.

    `crossdesk manifest` builds the package from it; `check` checks it the same way."""

    short_name: Annotated[
        str, Field(description="The app's name in Teams; up to 30 characters.")
    ] = "Crossdesk"
    full_name: Annotated[str, Field(description="The app's full name; up to 100 characters.")] = (
        "Crossdesk help desk"
    )
    short_description: Annotated[str, Field(description="Up to 80 characters.")] = (
        "One chat for IT, HR, Legal and every other help desk."
    )
    full_description: Annotated[str, Field(description="Up to 4000 characters.")] = (
        "Ask for help in one chat. Crossdesk greets you, asks what you need and hands the chat"
        " to the right department - IT Support, HR, Legal - without losing anything you said."
    )
    developer: Annotated[Developer, Field(description="Who publishes the app.")] = Developer()
    accent_color: Annotated[str, Field(description="The colour behind the icon, as #RRGGBB.")] = (
        "#2E5AAC"
    )
    color_icon: Annotated[
        str | None,
        Field(description="A 192x192 PNG, relative to this file (default: Crossdesk's icon)."),
    ] = None
    outline_icon: Annotated[
        str | None,
        Field(
            description="A 32x32 PNG, white on transparent, relative to this file (default:"
            " Crossdesk's)."
        ),
    ] = None


#: An app role's value as Entra ID writes it: up to 120 characters, no spaces (dots allowed).
ROLE_NAME = r"^[^\s]{1,120}$"
RoleName = Annotated[str, StringConstraints(pattern=ROLE_NAME)]


class OpsRole(_Model):
    """What holders of one app role see in the operations view (`/ops`)."""

    admin: Annotated[
        bool,
        Field(
            description="Every department's chats and the audit log (message text only with"
            " `transcripts`)."
        ),
    ] = False
    departments: Annotated[
        list[str],
        Field(
            description="Tenant ids whose chats (sessions, metadata, flow) are visible; '*':"
            " every tenant."
        ),
    ] = []
    transcripts: Annotated[
        list[str],
        Field(
            description="Tenant ids whose message text is visible, each view audited (the"
            " tenant must be among `departments` too); '*': every visible tenant."
        ),
    ] = []
    reports: Annotated[
        list[str],
        Field(
            description="Tenant ids whose aggregate reports (counts, never people) are"
            " visible; '*': every tenant."
        ),
    ] = []


class DevPersona(_Model):
    """Someone to sign in as with the local development sign-in (`CROSSDESK_OPS_AUTH=dev`)."""

    name: Annotated[str, Field(min_length=1, description="The display name, e.g. 'Ada Admin'.")]
    username: Annotated[
        str | None,
        Field(description="The sign-in name (UPN); absent: made from the name."),
    ] = None
    roles: Annotated[
        list[RoleName],
        Field(description="The app roles the persona's token carries (names from `ops.roles`)."),
    ] = []


class OpsView(_Model):
    """The operations view (`/ops`): who sees what, and the development sign-in's personas."""

    roles: Annotated[
        dict[RoleName, OpsRole],
        Field(
            description="Entra app role values (e.g. Crossdesk.Manager.HR) mapped to what their"
            " holders see; someone with several roles sees what any of them grants."
        ),
    ] = {}
    dev_personas: Annotated[
        list[DevPersona],
        Field(description="Personas of the local development sign-in (loopback only)."),
    ] = []


class ConfigFile(_Model):
    """A Crossdesk configuration: the tenants (departments), where chats start, and limits."""

    front_door: Annotated[
        str, Field(description="The id of the tenant where every new chat starts.")
    ]
    max_transfers_per_chat: Annotated[
        int,
        Field(
            ge=1,
            le=100,
            description="How many transfers one chat may make (bounds A→B→A ping-pong).",
        ),
    ] = 5
    default_language: Annotated[
        Language,
        Field(
            description="The language of texts given per language when neither the guest's"
            " nor the tenant's is there (en, de, fr, es, …)."
        ),
    ] = "en"
    idle_timeout: Annotated[
        Duration,
        Field(
            description="How long a chat may go without a message from the guest before it is"
            " closed as abandoned (8h, 30m, 1d, 1h30m); a tenant may set its own."
        ),
    ] = DEFAULT_IDLE_TIMEOUT
    tenants: Annotated[
        list[Tenant],
        Field(min_length=1, description="The departments, each with its pipelines."),
    ]
    teams_app: Annotated[
        TeamsApp,
        Field(description="How the Teams app looks (for `crossdesk manifest`); optional."),
    ] = TeamsApp()
    agents: Annotated[
        list[Agent],
        Field(description="The people who answer chats from Teams; tenants list them by id."),
    ] = []
    outbound: Annotated[
        Outbound,
        Field(description="The hosts http_request stages and webhooks may reach; optional."),
    ] = Outbound()
    webhooks: Annotated[
        list[Webhook],
        Field(description="URLs told of sessions starting, connecting, moving and ending."),
    ] = []
    ops: Annotated[
        OpsView,
        Field(description="The operations view (`/ops`): app roles mapped to what each sees."),
    ] = OpsView()


def config_schema() -> dict[str, Any]:
    """The configuration's JSON Schema (draft 2020-12), generated from the models."""
    schema = ConfigFile.model_json_schema()
    schema["title"] = "Crossdesk configuration"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """`config_schema()` as the shipped file holds it."""
    return json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True, slots=True)
class StageRef:
    """A stage with where it lives."""

    tenant: Tenant
    pipeline: str
    stage: AnyStage


class Config:
    """The validated configuration, indexed for the runtime: tenants, pipelines, stages, cards.

    `findings` holds what the check found that does not stop start-up (warnings, information).
    """

    def __init__(
        self,
        config: ConfigFile,
        templates: dict[str, CompiledTemplate],
        source: Path,
        findings: Sequence[Finding] = (),
    ) -> None:
        self.file = config
        self.source = source
        self.templates = templates
        self.findings = tuple(findings)
        self.tenants = {tenant.id: tenant for tenant in config.tenants}
        self.agents = AgentDirectory(
            config.agents,
            {tenant.id: {ALL: tenant.agents, **tenant.agent_lists} for tenant in config.tenants},
        )
        self._stages: dict[tuple[str, str], dict[str, StageRef]] = {
            (tenant.id, name): {
                stage.key: StageRef(tenant, name, stage) for stage in pipeline.stages
            }
            for tenant in config.tenants
            for name, pipeline in tenant.pipelines.items()
        }
        # What the runtime asks of a stage or tenant on every turn, worked out once.
        self._choice_names: dict[tuple[str, str, str], Mapping[str, Sequence[str]]] = {}
        self._idle_timeouts: dict[str, timedelta] = {}

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

    def default_language(self, tenant_id: str) -> str:
        """The language a tenant's texts fall back to."""
        tenant = self.tenants.get(tenant_id)
        own = tenant.default_language if tenant is not None else None
        return own or self.file.default_language

    def idle_timeout(self, tenant_id: str) -> timedelta:
        """How long a chat with `tenant_id` may wait for the guest before it is abandoned."""
        timeout = self._idle_timeouts.get(tenant_id)
        if timeout is None:
            tenant = self.tenants.get(tenant_id)
            own = tenant.idle_timeout if tenant is not None else None
            timeout = self._idle_timeouts[tenant_id] = parse_duration(own or self.file.idle_timeout)
        return timeout

    @cached_property
    def hours(self) -> dict[str, BusinessHours]:
        """Business hours by tenant id, for the tenants that have them."""
        return {t.id: t.hours for t in self.file.tenants if t.hours is not None}

    @cached_property
    def tenant_names(self) -> dict[str, str]:
        return {tenant.id: tenant.name for tenant in self.file.tenants}

    def choice_names(self, ref: StageRef) -> Mapping[str, Sequence[str]]:
        """For an options stage: the names of the tenants each choice (by value) leads to
        through a transfer, so that a guest may type "Human Resources" for the choice "HR"."""
        key = (ref.tenant.id, ref.pipeline, ref.stage.key)
        names = self._choice_names.get(key)
        if names is None:
            names = self._choice_names[key] = self._find_choice_names(ref)
        return names

    def _find_choice_names(self, ref: StageRef) -> dict[str, list[str]]:
        from pipeline.stages.options import OptionsStage

        stage = ref.stage
        if not isinstance(stage, OptionsStage):
            return {}
        names: dict[str, list[str]] = {}
        for choice in stage.choices:
            for target in self._transfer_targets(ref, choice.next, stage.store_as, choice):
                tenant = self.tenants.get(target)
                if tenant is not None:
                    names.setdefault(choice.stored_value, []).append(tenant.name)
        return names

    def _transfer_targets(
        self, ref: StageRef, key: str | None, store_as: str | None, choice: Any
    ) -> list[str]:
        """The tenants the first transfer after stage `key` (going on through stages that do
        not wait) moves a chat to, for a chat that picked `choice`."""
        from pipeline.stages.tenant_transfer import TenantTransferStage

        seen: set[str] = set()
        while key is not None and key not in seen:
            seen.add(key)
            found = self.find_stage(ref.tenant.id, ref.pipeline, key)
            if found is None or found.stage.waits:
                return []
            stage = found.stage
            if isinstance(stage, TenantTransferStage):
                target = stage.tenant.strip()
                if "${" not in target:
                    return [target]
                bound = re.fullmatch(r"\$\{\s*([A-Za-z0-9_.]+)\s*\}", target)
                if bound and store_as and bound.group(1).casefold() == store_as.casefold():
                    return [choice.stored_value]
                return []
            following = [target for _, target in stage.transitions()]
            key = following[0] if len(following) == 1 else None
        return []


@dataclass
class CheckReport:
    """Everything `check_config` found in a configuration, and the configuration when it has no
    errors."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    config: Config | None = None
    parsed: ConfigFile | None = None

    @property
    def errors(self) -> list[Finding]:
        return of_severity(self.findings, Severity.ERROR)

    @property
    def warnings(self) -> list[Finding]:
        return of_severity(self.findings, Severity.WARNING)

    @property
    def notes(self) -> list[Finding]:
        return of_severity(self.findings, Severity.INFO)

    def failed(self, strict: bool = False) -> bool:
        """Whether the configuration cannot be used (with `strict`, a warning counts too)."""
        return bool(self.errors or (strict and self.warnings))

    def contents(self) -> str:
        """`4 tenants, 5 pipelines, 21 stages, 1 card template` (what was checked)."""
        if self.parsed is None:
            return "the rest is checked once these are fixed"
        tenants = self.parsed.tenants
        pipelines = [p for t in tenants for p in t.pipelines.values()]
        stages = sum(len(p.stages) for p in pipelines)
        templates = {name for p in pipelines for s in p.stages for _, name in s.templates()}
        return ", ".join(
            [
                count(len(tenants), "tenant"),
                count(len(pipelines), "pipeline"),
                count(stages, "stage"),
                count(len(templates), "card template"),
            ]
        )

    def summary(self, strict: bool = False) -> str:
        """One line: the verdict, the counts of findings and what was checked."""
        counts = ", ".join(
            [
                count(len(self.errors), "error"),
                count(len(self.warnings), "warning"),
                count(len(self.notes), "note"),
            ]
        )
        if self.failed(strict):
            verdict = "FAILED" + (" (--strict: warnings count as errors)" if strict else "")
        else:
            verdict = "OK"
        return f"check {self.path}: {verdict}: {counts} ({self.contents()})"


def check_config(path: Path) -> CheckReport:
    """Read, parse and check a configuration file: every finding, errors first, each group in
    the order of the file."""
    from pipeline.checks import check_configuration

    path = Path(path)
    report = CheckReport(path)
    try:
        source = read_source(path)
    except SourceError as failure:
        report.findings = failure.findings
        return report
    findings = [
        _duplicate(source, d.mapping, d.key, d.line, d.first_line) for d in source.duplicates
    ]
    if source.data is None:
        findings.append(error(source.where_of(()), "is empty; a configuration lists `tenants`"))
    elif not isinstance(source.data, dict):
        findings.append(
            error(
                source.where_of(()),
                f"is {_kind(source.data)}, but a configuration is a mapping with `front_door`"
                " and `tenants`",
            )
        )
    else:
        try:
            report.parsed = ConfigFile.model_validate(source.data)
        except ValidationError as invalid:
            findings += _described(source, invalid.errors())
    if report.parsed is not None:
        checked, templates = check_configuration(source, report.parsed)
        findings += checked
    report.findings = _ordered(findings)
    if report.parsed is not None and not report.errors:
        report.config = Config(report.parsed, templates, path, report.findings)
    return report


def load_config(path: Path, *, strict: bool = False) -> Config:
    """Read, parse and check a configuration file, raising `ConfigError` on any error (with
    `strict`, on any warning too). Warnings and notes are kept in `Config.findings`."""
    report = check_config(Path(path))
    if report.failed(strict) or report.config is None:
        stopping = report.findings if strict else report.errors
        raise ConfigError([str(f) for f in stopping if f.severity is not Severity.INFO])
    return report.config


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (_RANK[f.severity], f.where.line or 0))


def resolve_template(config_path: Path, name: str) -> Path:
    """A template named in the configuration: next to the configuration, else a shipped one."""
    beside = config_path.parent / name
    return beside if beside.exists() else BUILTIN_TEMPLATES / name


# --- pydantic's errors, in an admin's words ----------------------------------------------------

_STAGE_TYPES = tuple(sorted(STAGE_TYPE_NAMES))

#: Plain words for the patterns fields must match.
_PATTERNS = {
    SLUG: "must be lower-case letters, digits, '-' and '_', starting with a letter or digit"
    " (e.g. 'it-support')",
    METADATA_KEY: "must be a metadata key: names of letters, digits and '_' joined by dots,"
    " without spaces (e.g. 'HR.Detail')",
    LANGUAGE: "must be a language code in lower case, e.g. 'en', 'de', 'fr' or 'es'",
    DURATION: "must be a duration such as 8h, 30m, 1d or 1h30m",
    SPAN: "must be opening hours such as 09:00-17:00",
    HOLIDAY: "must be a date such as 2026-12-24 (that day) or 12-25 (every year)",
    ROLE_NAME: "must be an app role value: up to 120 characters without spaces (e.g."
    " 'Crossdesk.Manager.HR')",
}

#: What each list in the configuration holds, for "is empty" and "should be a list".
_ITEMS = {"tenants": "tenant", "stages": "stage", "choices": "choice", "set": "key: value line"}

#: What a missing structural field holds.
_MISSING = {
    "tenants": "a configuration lists its departments under `tenants:`, each starting"
    " with `- id: …`",
    "pipelines": "a tenant needs `pipelines:`, its pipelines by name, each with `stages:`",
    "stages": "a pipeline needs `stages:`, a list of stages",
    "front_door": "name the tenant where every new chat starts, e.g. `front_door: helpdesk`",
    "primary_pipeline": "name the pipeline a chat runs when it arrives in this tenant",
}


def _described(source: Source, errors: list[Any]) -> list[Finding]:
    """Findings for pydantic's errors; a missing field is left out when a misspelt field next
    to it is reported with "did you mean" that name."""
    errors = _one_per_union(source, errors)
    findings = [_describe(source, err) for err in errors]
    suggested = {
        (_data_path(source.data, tuple(err["loc"]))[:-1], _close(source.data, err))
        for err in errors
        if err["type"] == "extra_forbidden"
    }
    return [
        finding
        for finding, err in zip(findings, errors, strict=True)
        if not (
            err["type"] == "missing"
            and (
                (path := _data_path(source.data, tuple(err["loc"])))[:-1],
                str(path[-1]) if path else None,
            )
            in suggested
        )
    ]


def _close(data: Any, err: Any) -> str | None:
    path = _data_path(data, tuple(err["loc"]))
    close = difflib.get_close_matches(str(path[-1]), _fields_at(data, path[:-1]), n=1, cutoff=0.6)
    return close[0] if close else None


def _describe(source: Source, err: Any) -> Finding:
    """A finding for one pydantic error, located in the file."""
    loc: tuple[Any, ...] = tuple(err["loc"])
    kind: str = err["type"]
    message: str = err["msg"]
    key_error = bool(loc) and loc[-1] == "[key]"
    if key_error:
        loc = loc[:-1]
    path = _data_path(source.data, loc)
    where = source.where_of(path)
    value = err.get("input")
    written = source.written.get(path)
    last = path[-1] if path else None
    if key_error:
        message = (
            f"the key '{last}' " + _pattern_words(err) if kind.startswith("string") else message
        )
    elif kind == "missing":
        message = (
            f"missing: {_MISSING[str(last)]}" if str(last) in _MISSING else "required, but missing"
        )
    elif kind == "extra_forbidden":
        message = _unknown_field(source.data, path)
    elif kind == "union_tag_invalid":
        where = source.where_of((*path, "type"))
        message = f"unknown stage type '{value.get('type') if isinstance(value, dict) else value}'"
        message += f"; expected one of {', '.join(_STAGE_TYPES)}"
        message += _did_you_mean(
            str(value.get("type")) if isinstance(value, dict) else "", _STAGE_TYPES
        )
    elif kind == "union_tag_not_found":
        where = source.where_of((*path, "type"))
        message = f"missing stage type; add `type:` with one of {', '.join(_STAGE_TYPES)}"
    elif kind == "string_type":
        message = _not_text(value, written)
    elif kind == "string_pattern_mismatch":
        message = f"'{value}' " + _pattern_words(err)
    elif kind in ("string_too_short", "too_short"):
        noun = _ITEMS.get(str(last))
        message = f"is empty: needs at least one {noun}" if noun else "is empty"
    elif kind == "list_type":
        noun = _ITEMS.get(str(last), "item")
        message = f"should be a list (each {noun} on a line starting with '- '), not {_kind(value)}"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        message = _not_mapping(last, path, value)
    elif kind in ("bool_type", "bool_parsing"):
        message = f"should be true or false, not {_shown(value, written)}"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        message = f"should be a whole number, not {_shown(value, written)}"
    elif kind == "greater_than_equal":
        message = f"must be at least {err['ctx']['ge']}, not {value}"
    elif kind == "less_than_equal":
        message = f"must be at most {err['ctx']['le']}, not {value}"
    return error(where, message)


def _data_path(data: Any, loc: tuple[Any, ...]) -> DataPath:
    """The path into the file's data for a pydantic location, without the stage type tag that
    pydantic adds after a stage's index."""
    path: list[Any] = []
    node = data
    for step in loc:
        if (
            len(path) >= 2
            and path[-2] == "stages"
            and isinstance(node, dict)
            and step in _STAGE_TYPES
            and step not in node
        ):
            continue  # the discriminator: pydantic's, not the file's
        if _is_union_tag(step) and not (isinstance(node, dict) and step in node):
            continue  # which member of a union (`str`, `dict[…]`): pydantic's, not the file's
        path.append(step)
        node = _child(node, step)
    return tuple(path)


_UNION_TAG = re.compile(
    r"^(str|int|bool|date|none|constrained-str|(dict|list|function-\w+)\[.*\])$"
)


def _is_union_tag(step: Any) -> bool:
    return isinstance(step, str) and _UNION_TAG.match(step) is not None


def _union_member(err: Any) -> str | None:
    """The union member an error is about (`str`, `dict[…]`), if any."""
    return next((str(step) for step in err["loc"] if _is_union_tag(step)), None)


def _fits(member: str, value: Any) -> bool:
    """Whether `value` is of the kind a union member takes (a mapping for `dict[…]`, …)."""
    if member.startswith("dict"):
        return isinstance(value, dict)
    if member.startswith("list"):
        return isinstance(value, list)
    return not isinstance(value, dict | list)


def _one_per_union(source: Source, errors: list[Any]) -> list[Any]:
    """Of the errors pydantic reports for each member of a union (`text: str | {en: …}`), the
    one for the member the written value is meant as."""
    kept: list[Any] = []
    by_path: dict[DataPath, list[Any]] = {}
    for err in errors:
        if _union_member(err) is None:
            kept.append(err)
        else:
            by_path.setdefault(_data_path(source.data, tuple(err["loc"])), []).append(err)
    for path, group in by_path.items():
        value = _node(source.data, path)
        fitting = [err for err in group if _fits(str(_union_member(err)), value)]
        kept.extend(fitting or group[:1])
    return kept


def _child(node: Any, step: Any) -> Any:
    if isinstance(node, dict):
        return node.get(step)
    if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
        return node[step]
    return None


def _node(data: Any, path: DataPath) -> Any:
    for step in path:
        data = _child(data, step)
    return data


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return "text"


def _shown(value: Any, written: str | None) -> str:
    if written is not None:
        return f"'{written}'"
    return _kind(value) if isinstance(value, dict | list) or value is None else f"'{value}'"


def _not_text(value: Any, written: str | None) -> str:
    shown = written if written is not None else str(value)
    if isinstance(value, bool):
        return (
            f"YAML reads {shown} as {str(value).lower()} (it reads Yes/No/On/Off/True/False as"
            f' true/false): quote it: "{shown}"'
        )
    if isinstance(value, int | float):
        return f'YAML reads {shown} as a number: quote it: "{shown}"'
    if value is None:
        return "is empty: write the text after the colon, or leave the line out if it is optional"
    return f"should be text, not {_kind(value)}"


def _not_mapping(last: Any, path: DataPath, value: Any) -> str:
    if len(path) == 4 and path[0] == "tenants" and path[2] == "pipelines":
        if isinstance(value, list):
            return (
                "should be a mapping with `stages:`, not a list: write `stages:` under the"
                " pipeline's name and the list under it"
            )
        return f"should be a mapping with `stages:`, not {_kind(value)}"
    if last == "pipelines" and isinstance(value, list):
        return (
            "should be a mapping of pipeline names to pipelines, not a list: write"
            " `main:` (a name), then `stages:` under it"
        )
    return f"should be a mapping of settings, not {_kind(value)}"


def _pattern_words(err: Any) -> str:
    pattern = (err.get("ctx") or {}).get("pattern", "")
    return _PATTERNS.get(pattern, f"does not have the expected form ({pattern})")


def _unknown_field(data: Any, path: DataPath) -> str:
    name = str(path[-1])
    known = _fields_at(data, path[:-1])
    message = f"unknown field '{name}'"
    hint = _did_you_mean(name, known)
    if hint:
        return message + hint
    if known:
        message += f" (fields here: {', '.join(known)})"
    return message


def _fields_at(data: Any, path: DataPath) -> list[str]:
    """The fields the model at `path` (a mapping in the file) accepts."""
    model: type[BaseModel] | None = None
    depth = len(path)
    if depth == 0:
        model = ConfigFile
    elif path[0] == "tenants" and depth == 2:
        model = Tenant
    elif path[0] == "tenants" and depth == 4:
        model = Pipeline
    elif path[0] == "tenants" and depth >= 6 and path[4] == "stages":
        stage = _node(data, path[:6])
        stage_type = stage.get("type") if isinstance(stage, dict) else None
        model = STAGE_TYPE_NAMES.get(stage_type) if isinstance(stage_type, str) else None
        if model is not None and depth == 8 and path[6] == "choices":
            from pipeline.stages import Choice

            model = Choice
        elif model is not None and depth == 8 and path[6] == "branches":
            from pipeline.stages import Branch

            model = Branch
        elif depth != 6:
            model = None
    else:
        model = _nested_model(path)
    return list(model.model_fields) if model is not None else []


def _nested_model(path: DataPath) -> type[BaseModel] | None:
    """Models below the top level other than tenants' stages: business hours, the Teams
    app's."""
    if len(path) == 3 and path[0] == "tenants" and path[2] == "hours":
        return BusinessHours
    if len(path) == 4 and path[0] == "tenants" and path[2:] == ("hours", "weekly"):
        return Week
    if path == ("teams_app",):
        return TeamsApp
    if path == ("teams_app", "developer"):
        return Developer
    if path == ("outbound",):
        return Outbound
    if len(path) == 2 and path[0] == "webhooks":
        return Webhook
    if path == ("ops",):
        return OpsView
    if len(path) == 3 and path[:2] == ("ops", "roles"):
        return OpsRole
    if len(path) == 3 and path[:2] == ("ops", "dev_personas"):
        return DevPersona
    return None


def _did_you_mean(name: str, candidates: Sequence[str]) -> str:
    if not name:
        return ""
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        folded = {c.casefold(): c for c in candidates}
        close = [folded[name.casefold()]] if name.casefold() in folded else []
    return f"; did you mean '{close[0]}'?" if close else ""


def _duplicate(source: Source, mapping: DataPath, key: str, line: int, first: int) -> Finding:
    where = source.where_of((*mapping, key))
    return error(
        replace(where, line=line),
        f"'{key}' is written twice in one mapping (first at line {first}); YAML keeps only the"
        " last one, so the first is ignored",
    )
