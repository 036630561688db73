"""Checks across a whole configuration: what the models alone cannot see.

References (transitions, tenants, templates) and what each stage type checks itself
(`StageBase.problems` / `warnings`), then what only the whole configuration shows: metadata keys
nothing stores, `${` never closed, `${…}` transfer targets fed by options whose values are not
tenant ids, stages, pipelines and tenants no chat can reach, stages that loop without waiting
for the guest, and transfer cycles (information: `max_transfers_per_chat` bounds them).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import available_timezones

from cards import CompiledTemplate, TemplateError, compile_template
from cards.expressions import ExpressionSyntaxError, Name, compile_expression
from cards.template import binding_end, split_bindings
from cards.validate import Shape, check_template, data_shape
from locales import LANGUAGES, zone_of
from pipeline.calls import allowed, host_of
from pipeline.findings import Finding, Where, error, info, one_of, warning
from pipeline.hours import WEEKDAYS, holiday_problem, span_problems
from pipeline.session import GUEST_FACTS
from pipeline.source import DataPath, Source
from pipeline.stages import AnyStage
from pipeline.stages.base import CheckContext, Stored

if TYPE_CHECKING:
    from pipeline.config import ConfigFile, Tenant

#: The Adaptive Card version Teams renders, and the schema cards are checked against.
CARD_VERSION = (1, 5)


def builtin_keys() -> tuple[str, ...]:
    """Metadata Crossdesk itself writes: who the guest is, the session, the transfer links."""
    from pipeline.stages.business_hours import HOURS, HOURS_KEYS
    from pipeline.stages.rating import COMMENT, RATING
    from pipeline.transfer import FROM, LINK_FIELDS, TO

    return (
        *GUEST_FACTS,
        "Guest.IsNew",
        "Guest.Question",
        "Guest.LocalTime",
        "Guest.LocalDate",
        *(HOURS + name for name in HOURS_KEYS),
        RATING,
        COMMENT,
        "Session.SessionId",
        "Session.TenantId",
        "Session.TenantName",
        "Session.State",
        "Session.StartedUtc",
        "Session.EndedUtc",
        "Session.Status.Resolution",
        *(prefix + name for prefix in (FROM, TO) for name in LINK_FIELDS),
    )


@dataclass(frozen=True, slots=True)
class _Stage:
    """A stage and where it sits: the tenant (and its index in `tenants`), pipeline, index."""

    tenant_index: int
    tenant: Tenant
    pipeline: str
    index: int
    stage: AnyStage

    @property
    def path(self) -> DataPath:
        return ("tenants", self.tenant_index, "pipelines", self.pipeline, "stages", self.index)

    @property
    def key(self) -> str:
        return self.stage.key


def check_configuration(
    source: Source, config: ConfigFile, environment: Mapping[str, str] | None = None
) -> tuple[list[Finding], dict[str, CompiledTemplate]]:
    """Every finding across `config` (read from `source`), and its compiled card templates;
    `${env:NAME}` secrets must be set in `environment` (default: the process's)."""
    checker = _Checker(source, config, os.environ if environment is None else environment)
    checker.run()
    return checker.findings, checker.templates


class _Checker:
    def __init__(self, source: Source, config: ConfigFile, environment: Mapping[str, str]) -> None:
        self.source = source
        self.config = config
        self.environment = environment
        self.findings: list[Finding] = []
        self.templates: dict[str, CompiledTemplate] = {}
        self._template_checked: set[str] = set()
        self.tenant_ids = [tenant.id for tenant in config.tenants]
        self.tenants: dict[str, Tenant] = {}
        for tenant in config.tenants:
            self.tenants.setdefault(tenant.id, tenant)
        self.stages = [
            _Stage(index, tenant, name, position, stage)
            for index, tenant in enumerate(config.tenants)
            for name, pipeline in tenant.pipelines.items()
            for position, stage in enumerate(pipeline.stages)
        ]

    def run(self) -> None:
        self._tenants()
        self._agents()
        self._languages()
        self._hours()
        for stage in self.stages:
            self._stage(stage)
        self._unclosed(self.source.data, ())
        self._metadata_keys()
        self._transfer_targets()
        self._reachability()
        self._loops()
        self._transfer_cycles()
        self._teams_app()
        self._outbound()
        self._ops()

    # where

    def at(self, stage: _Stage, field: str | None = None) -> Where:
        node = _node(self.source.data, stage.path)
        return self.source.where_of((*stage.path, *_field_steps(node, field)))

    def at_tenant(self, index: int, field: str | None = None) -> Where:
        return self.source.where_of(("tenants", index, *((field,) if field else ())))

    # tenants

    def _tenants(self) -> None:
        config, ids = self.config, self.tenant_ids
        for index, tenant in enumerate(config.tenants):
            if tenant.id in ids[:index]:
                self.findings.append(error(self.at_tenant(index, "id"), "duplicate tenant id"))
        front = self.tenants.get(config.front_door)
        if front is None:
            self.findings.append(
                error(
                    self.source.where_of(("front_door",)),
                    f"'{config.front_door}' is not a tenant (tenants: {', '.join(ids)})"
                    + _did_you_mean(config.front_door, ids),
                )
            )
        elif not front.enabled:
            self.findings.append(
                error(
                    self.at_tenant(ids.index(front.id), "enabled"),
                    "the front door cannot be disabled: every new chat starts here, and"
                    " Crossdesk would ignore `enabled: false`; enable it or choose another"
                    " `front_door`",
                )
            )
        for index, tenant in enumerate(config.tenants):
            if tenant.primary_pipeline not in tenant.pipelines:
                self.findings.append(
                    error(
                        self.at_tenant(index, "primary_pipeline"),
                        f"no pipeline named '{tenant.primary_pipeline}'"
                        f" (pipelines: {', '.join(tenant.pipelines)})"
                        + _did_you_mean(tenant.primary_pipeline, list(tenant.pipelines)),
                    )
                )
            for sender in tenant.accepts_transfers_from or []:
                if sender not in self.tenants:
                    self.findings.append(
                        error(
                            self.at_tenant(index, "accepts_transfers_from"),
                            f"'{sender}' is not a tenant" + _did_you_mean(sender, ids),
                        )
                    )

    # agents

    def _agents(self) -> None:
        agents = self.config.agents
        ids = [agent.id for agent in agents]
        for index, agent in enumerate(agents):
            where = self.source.where_of(("agents", index))
            if agent.id in ids[:index]:
                self.findings.append(
                    error(self.source.where_of(("agents", index, "id")), "duplicate agent id")
                )
            if not (agent.aad_object_id or agent.upn):
                self.findings.append(
                    error(
                        where,
                        f"agent '{agent.id}' has neither `aad_object_id` nor `upn`: Crossdesk"
                        " could not tell them apart from a guest",
                    )
                )
            for field, value in (("aad_object_id", agent.aad_object_id), ("upn", agent.upn)):
                others = [
                    a.id
                    for a in agents[:index]
                    if value and (getattr(a, field) or "").lower() == value.lower()
                ]
                if others:
                    self.findings.append(
                        error(
                            self.source.where_of(("agents", index, field)),
                            f"agent '{others[0]}' has the same {field}: one person, two agents",
                        )
                    )
        for index, tenant in enumerate(self.config.tenants):
            lists = {"agents": tenant.agents} | {
                f"agent_lists.{name}": members for name, members in tenant.agent_lists.items()
            }
            for field, members in lists.items():
                for agent_id in members:
                    if agent_id not in ids:
                        self.findings.append(
                            error(
                                self.at_tenant(index, field.split(".")[0]),
                                f"'{agent_id}' in `{field}` is not an agent"
                                + (
                                    f" (agents: {', '.join(dict.fromkeys(ids))})"
                                    if ids
                                    else " (no `agents`)"
                                )
                                + _did_you_mean(agent_id, ids),
                            )
                        )

    # languages

    def _languages(self) -> None:
        """Texts given per language must have the tenant's default language (guests whose own
        language is missing get that one); Crossdesk's own texts come in four languages."""
        default = self.config.default_language
        if default not in LANGUAGES:
            self.findings.append(
                warning(
                    self.source.where_of(("default_language",)),
                    _no_catalog(default),
                )
            )
        for index, tenant in enumerate(self.config.tenants):
            if tenant.default_language is not None and tenant.default_language not in LANGUAGES:
                self.findings.append(
                    warning(
                        self.at_tenant(index, "default_language"),
                        _no_catalog(tenant.default_language),
                    )
                )
        for stage in self.stages:
            language = stage.tenant.default_language or default
            fields = [*stage.stage.texts(), *stage.stage.templates()]
            given: dict[str, set[str]] = {}
            for field, _ in fields:
                head, _, last = field.rpartition(".")
                if head and re.fullmatch(r"[a-z]{2,3}", last):
                    given.setdefault(head, set()).add(last)
            for field, languages in given.items():
                written = _node(
                    _node(self.source.data, stage.path),
                    _field_steps(_node(self.source.data, stage.path), field),
                )
                if not isinstance(written, dict) or set(written) != languages:
                    continue  # not a text per language (`branches[0].if`)
                if language not in languages:
                    self.findings.append(
                        error(
                            self.at(stage, field),
                            f"has no '{language}' ({_whose(stage.tenant, language)} default"
                            f" language; given: {', '.join(sorted(languages))}), so a guest whose"
                            f" language is not given has nothing in theirs: add `{language}:`",
                        )
                    )

    # business hours

    def _hours(self) -> None:
        for index, tenant in enumerate(self.config.tenants):
            hours = tenant.hours
            if hours is None:
                continue
            path = ("tenants", index, "hours")
            if zone_of(hours.time_zone) is None:
                self.findings.append(
                    error(
                        self.source.where_of((*path, "time_zone")),
                        f"'{hours.time_zone}' is not an IANA time zone (e.g. Europe/Berlin,"
                        " America/New_York)"
                        + _did_you_mean(hours.time_zone, sorted(available_timezones())),
                    )
                )
            open_days = 0
            for weekday, day in enumerate(WEEKDAYS):
                spans = hours.weekly.spans(weekday)
                single = isinstance(getattr(hours.weekly, day), str)
                for position, wrong in span_problems(spans):
                    steps = (*path, "weekly", day) if single else (*path, "weekly", day, position)
                    self.findings.append(error(self.source.where_of(steps), wrong))
                open_days += bool(spans)
            for position, holiday in enumerate(hours.holidays):
                problem = holiday_problem(holiday)
                if problem:
                    self.findings.append(
                        error(self.source.where_of((*path, "holidays", position)), problem)
                    )
            if not open_days:
                self.findings.append(
                    warning(
                        self.source.where_of((*path, "weekly")),
                        "no day has opening hours, so this tenant is always closed: transfers"
                        " to it take `on_closed`; write hours such as `monday: 09:00-17:00`",
                    )
                )

    @cached_property
    def _contexts(self) -> dict[str, CheckContext]:
        disabled = frozenset(t.id for t in self.tenants.values() if not t.enabled)
        accepts = {
            t.id: (
                frozenset(t.accepts_transfers_from)
                if t.accepts_transfers_from is not None
                else None
            )
            for t in self.tenants.values()
        }
        with_hours = frozenset(t.id for t in self.tenants.values() if t.hours is not None)
        allowed_hosts = frozenset(host.lower() for host in self.config.outbound.allowed_hosts)
        return {
            tenant_id: CheckContext(
                self.tenant_ids,
                tenant_id,
                disabled,
                accepts,
                with_hours=with_hours,
                agent_lists={
                    "": tuple(tenant.agents),
                    **{name: tuple(ids) for name, ids in tenant.agent_lists.items()},
                },
                allowed_hosts=allowed_hosts,
                environment=self.environment,
            )
            for tenant_id, tenant in self.tenants.items()
        }

    # one stage at a time

    def _stage(self, stage: _Stage) -> None:
        keys = self._keys(stage)
        if stage.key in keys[: stage.index]:
            self.findings.append(
                error(self.at(stage, "key"), "duplicate stage key in this pipeline")
            )
        for field, target in stage.stage.transitions():
            if target and target not in keys:
                self.findings.append(
                    error(
                        self.at(stage, field),
                        f"transition to '{target}', which is not a stage of this pipeline"
                        + _did_you_mean(target, keys),
                    )
                )
        context = self._contexts[stage.tenant.id]
        for field, problem in stage.stage.problems(context):
            self.findings.append(error(self.at(stage, field), problem))
        for field, doubt in stage.stage.warnings(context):
            self.findings.append(warning(self.at(stage, field), doubt))
        for field, name in stage.stage.templates():
            self._template(stage, field, name)
        for field, text in stage.stage.texts():
            try:
                compile_template(text, field)
            except TemplateError as failure:
                shown = f" in ${{{failure.expression}}}" if failure.expression else ""
                self.findings.append(
                    error(self.at(stage, field), f"cannot be parsed: {failure.reason}{shown}")
                )

    def _keys(self, stage: _Stage) -> list[str]:
        return [s.key for s in stage.tenant.pipelines[stage.pipeline].stages]

    # templates

    def _template(self, stage: _Stage, field: str, name: str, file: Path | None = None) -> None:
        """Load, check and compile a template once; its problems are reported at its first use.

        Its language variants beside it (`transfer.de.json` for `transfer.json`) are loaded
        with it: a guest of that language gets the variant."""
        if name in self._template_checked:
            return
        self._template_checked.add(name)
        where = self.at(stage, field)
        from pipeline.config import BUILTIN_TEMPLATES, resolve_template

        file = file or resolve_template(self.source.path, name)
        stem = name.removesuffix(".json")
        if name.endswith(".json") and not re.search(r"\.[a-z]{2,3}$", stem):
            for variant in sorted(file.parent.glob(f"{Path(stem).name}.*.json")):
                language = variant.name.removesuffix(".json").rsplit(".", 1)[-1]
                if re.fullmatch(r"[a-z]{2,3}", language):
                    self._template(stage, field, f"{stem}.{language}.json", variant)
        try:
            template = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.findings.append(
                error(
                    where,
                    f"template '{name}' not found (looked in {self.source.path.parent} and"
                    f" {BUILTIN_TEMPLATES})",
                )
            )
            return
        except UnicodeDecodeError:
            self.findings.append(
                error(where, f"template '{name}' ({file}) is not UTF-8 text; save it as UTF-8")
            )
            return
        except (OSError, ValueError) as failure:
            self.findings.append(
                error(where, f"template '{name}' ({file}) is not valid JSON: {failure}")
            )
            return
        version = _version(template)
        if version is not None and version > CARD_VERSION:
            shown = ".".join(str(part) for part in version)
            self.findings.append(
                error(
                    where,
                    f"template '{name}' declares Adaptive Card version {shown}, but Teams renders"
                    ' 1.5 and Crossdesk checks cards against 1.5: write "version": "1.5"',
                )
            )
        for pointer, column in _unclosed_in_json(template, ""):
            self.findings.append(
                error(
                    where,
                    f"template '{name}' at {pointer}: `${{` at column {column} is never closed,"
                    " so the guest sees it as written; close it with `}` (or write `\\${` for a"
                    " literal `${`)",
                )
            )
        problems = check_template(template, str(file))
        if problems:
            self.findings.append(
                error(
                    where,
                    f"template '{name}' is not a valid Adaptive Card 1.5 template: "
                    + "; ".join(problems),
                )
            )
            return
        self.templates[name] = compile_template(template, str(file))
        unknown = [path for path in _paths(data_shape(template)[0]) if not self._known(path)]
        if unknown:
            self.findings.append(
                warning(
                    where,
                    f"template '{name}' reads {one_of(unknown, 'and')}, which no stage stores and"
                    " Crossdesk does not set, so it renders empty"
                    + "".join(self._suggest(path, len(unknown) > 1) for path in unknown[:3]),
                )
            )

    # `${` never closed

    def _unclosed(self, node: Any, path: DataPath) -> None:
        if isinstance(node, str):
            for column in unclosed_bindings(node):
                self.findings.append(
                    error(
                        self.source.where_of(path),
                        f"`${{` at column {column} is never closed, so the guest sees"
                        f" '{_excerpt(node, column)}' as written; close it with `}}` (or write"
                        " `\\${` for a literal `${`)",
                    )
                )
        elif isinstance(node, dict):
            for key, value in node.items():
                self._unclosed(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                self._unclosed(value, (*path, index))

    # metadata keys

    @cached_property
    def _stored(self) -> list[tuple[_Stage, Stored]]:
        return [(stage, stored) for stage in self.stages for stored in stage.stage.stores()]

    @cached_property
    def _known_keys(self) -> dict[str, str]:
        """Every metadata key something writes, by its case-folded form (look-ups in templates
        are case-insensitive)."""
        keys = {key.casefold(): key for key in builtin_keys()}
        for _, stored in self._stored:
            keys.setdefault(stored.key.casefold(), stored.key)
        return keys

    @cached_property
    def _known_prefixes(self) -> set[str]:
        prefixes: set[str] = set()
        for key in self._known_keys:
            parts = key.split(".")
            prefixes.update(".".join(parts[:n]) for n in range(1, len(parts)))
        return prefixes

    def _known(self, path: str) -> bool:
        """Whether `path` is a key something writes, part of one (`Guest`), or inside one (a
        stored object's field)."""
        folded = path.casefold()
        if folded in self._known_keys or folded in self._known_prefixes:
            return True
        parts = folded.split(".")
        return any(".".join(parts[:n]) in self._known_keys for n in range(1, len(parts)))

    def _suggest(self, path: str, name_it: bool = False) -> str:
        close = difflib.get_close_matches(path, list(self._known_keys.values()), n=1, cutoff=0.75)
        if not close:
            return ""
        return f"; did you mean '{close[0]}'" + (f" for '{path}'?" if name_it else "?")

    def _metadata_keys(self) -> None:
        for stage in self.stages:
            for field, text in stage.stage.texts():
                if "${" not in text:
                    continue
                for path in _paths(data_shape(text)[0]):
                    if self._known(path):
                        continue
                    self.findings.append(
                        error(
                            self.at(stage, field),
                            f"'{path}': no stage stores this metadata key and Crossdesk does not"
                            " set it, so it always renders empty" + self._suggest(path),
                        )
                    )

    # `${…}` transfer targets

    def _transfer_targets(self) -> None:
        for stage in self.stages:
            key = _bound_key(stage.stage)
            if key is None:
                continue
            for writer, stored, local in self._writers(stage, key):
                self._check_target_value(stage, key, writer, stored, local)

    def _writers(self, transfer: _Stage, key: str) -> list[tuple[_Stage, Stored, bool]]:
        """The stages that store `key` before `transfer` runs: those of its pipeline that lead
        to it, else every stage that stores it (metadata travels with transferred chats)."""
        folded = key.casefold()
        writers = [(s, st) for s, st in self._stored if st.key.casefold() == folded]
        local = []
        for writer, stored in writers:
            if (writer.tenant_index, writer.pipeline) != (
                transfer.tenant_index,
                transfer.pipeline,
            ):
                continue
            if self._feeds(writer, stored, transfer):
                local.append((writer, stored, True))
        if local:
            return local
        return [(writer, stored, False) for writer, stored in writers]

    def _check_target_value(
        self, transfer: _Stage, key: str, writer: _Stage, stored: Stored, local: bool
    ) -> None:
        where = self.at(writer, stored.field)
        via = f"stage '{transfer.key}' transfers the chat to ${{{key}}}"
        if stored.value is None:
            if writer.stage.type_name == "question":
                self.findings.append(
                    warning(
                        self.at(transfer, "tenant"),
                        f"the guest's typed answer to stage '{writer.key}' ({key}) picks the"
                        " tenant, and a word that is not a tenant id makes the transfer fail;"
                        " offer the tenants with an options stage",
                    )
                )
            return
        value = stored.value
        if value not in self.tenants:
            self.findings.append(
                error(
                    where,
                    f"'{value}' is not a tenant id, but {via} (tenants:"
                    f" {', '.join(self.tenants)})" + _did_you_mean(value, list(self.tenants)),
                )
            )
            return
        context = self._contexts[transfer.tenant.id]
        if local and (refusal := context.refusal(value)):
            self.findings.append(
                error(where, f"'{value}' is this tenant itself: {via}, but {refusal}")
            )
        elif doubt := context.doubt(value):
            self.findings.append(warning(where, f"{via}, but {doubt}"))

    def _feeds(self, writer: _Stage, stored: Stored, transfer: _Stage) -> bool:
        """Whether the chat can go from `writer` (having stored `stored`) to `transfer` without
        passing a stage that stores the same key again."""
        if stored.then is None:
            return False
        folded = stored.key.casefold()
        rewriters = {
            s.key
            for s, st in self._stored
            if st.key.casefold() == folded
            and (s.tenant_index, s.pipeline) == (writer.tenant_index, writer.pipeline)
        }
        graph = self._graph(writer.tenant, writer.pipeline)
        seen: set[str] = set()
        stack = [stored.then]
        while stack:
            key = stack.pop()
            if key == transfer.key:
                return True
            if key in seen or key in rewriters:
                continue
            seen.add(key)
            stack += graph.get(key, [])
        return False

    # reachability

    def _graph(self, tenant: Tenant, pipeline: str) -> dict[str, list[str]]:
        stages = tenant.pipelines[pipeline].stages
        keys = {s.key for s in stages}
        return {
            s.key: [t for _, t in s.transitions() if t is not None and t in keys] for s in stages
        }

    def _reachable_stages(self, tenant: Tenant, pipeline: str) -> set[str]:
        stages = tenant.pipelines[pipeline].stages
        return _reachable(self._graph(tenant, pipeline), stages[0].key)

    def _targets(self, stage: _Stage) -> set[str]:
        """The tenants a transfer stage can move a chat to (every tenant when unknowable)."""
        tenant_field = getattr(stage.stage, "tenant", None)
        if not isinstance(tenant_field, str):
            return set()
        if "${" not in tenant_field:
            targets = {tenant_field}
        else:
            key = _bound_key(stage.stage)
            writers = self._writers(stage, key) if key else []
            if not writers or any(stored.value is None for _, stored, _ in writers):
                targets = set(self.tenants)
            else:
                targets = {stored.value for _, stored, _ in writers if stored.value}
        context = self._contexts[stage.tenant.id]
        return {
            t
            for t in targets
            if t in self.tenants and not context.refusal(t) and not context.doubt(t)
        }

    @cached_property
    def _transfer_edges(self) -> dict[str, list[tuple[_Stage, str]]]:
        """For each tenant, the transfers a chat can make from its primary pipeline."""
        edges: dict[str, list[tuple[_Stage, str]]] = {}
        for tenant in self.tenants.values():
            if tenant.primary_pipeline not in tenant.pipelines:
                continue
            reachable = self._reachable_stages(tenant, tenant.primary_pipeline)
            for stage in self.stages:
                if (
                    stage.tenant is tenant
                    and stage.pipeline == tenant.primary_pipeline
                    and stage.key in reachable
                    and stage.stage.type_name == "tenant_transfer"
                ):
                    for target in sorted(self._targets(stage)):
                        edges.setdefault(tenant.id, []).append((stage, target))
        return edges

    def _reachability(self) -> None:
        front = self.tenants.get(self.config.front_door)
        reached: set[str] = set()
        if front is not None:
            queue = [front.id]
            while queue:
                tenant_id = queue.pop()
                if tenant_id in reached:
                    continue
                reached.add(tenant_id)
                queue += [t for _, t in self._transfer_edges.get(tenant_id, [])]
        for index, tenant in enumerate(self.config.tenants):
            if self.tenants.get(tenant.id) is not tenant:
                continue  # a duplicate id, reported already
            if front is not None and tenant.id not in reached and tenant.enabled:
                self.findings.append(
                    warning(
                        self.at_tenant(index, "id"),
                        "no chat can reach this tenant: it is not the front door, and no"
                        " transfer a chat can reach leads here",
                    )
                )
                continue
            for name in tenant.pipelines:
                if name != tenant.primary_pipeline and tenant.primary_pipeline in tenant.pipelines:
                    self.findings.append(
                        warning(
                            self.source.where_of(("tenants", index, "pipelines", name)),
                            "nothing starts this pipeline: a chat arriving in this tenant runs"
                            f" its primary pipeline '{tenant.primary_pipeline}' (chats already"
                            " waiting in this one still finish it)",
                        )
                    )
                    continue
                reachable = self._reachable_stages(tenant, name)
                for stage in self.stages:
                    if (
                        stage.tenant is tenant
                        and stage.pipeline == name
                        and stage.key not in reachable
                    ):
                        self.findings.append(
                            warning(
                                self.at(stage, "key"),
                                "no chat can reach this stage: it is not the first of its"
                                " pipeline, and no transition a chat can reach leads here",
                            )
                        )

    # loops without waiting for the guest

    def _loops(self) -> None:
        for tenant in self.tenants.values():
            for name, pipeline in tenant.pipelines.items():
                busy = {s.key for s in pipeline.stages if not s.waits or s.calls_out}
                graph = {
                    key: [t for t in targets if t in busy]
                    for key, targets in self._graph(tenant, name).items()
                    if key in busy
                }
                for cycle in _cycles(graph):
                    members = [
                        next(
                            s
                            for s in self.stages
                            if s.tenant is tenant and s.pipeline == name and s.key == key
                        )
                        for key in cycle
                    ]
                    shown = " → ".join(f"'{key}'" for key in [*cycle, cycle[0]])
                    transfers = [m.key for m in members if m.stage.type_name == "tenant_transfer"]
                    if transfers:
                        self.findings.append(
                            warning(
                                self.at(members[0], "key"),
                                f"stages {shown} go round without waiting for the guest for as"
                                f" long as the transfer of {one_of(transfers, 'and')} fails; the"
                                " chat would stop with an error: let the failure path wait (a"
                                " question or options stage) or end the chat",
                            )
                        )
                    else:
                        self.findings.append(
                            error(
                                self.at(members[0], "key"),
                                f"stages {shown} go round without waiting for the guest; the"
                                " chat would stop with an error: let one of them wait (a"
                                " question or options stage) or end the chat",
                            )
                        )

    # transfer cycles

    def _transfer_cycles(self) -> None:
        graph = {
            tenant: sorted({target for _, target in edges})
            for tenant, edges in self._transfer_edges.items()
        }
        for cycle in _cycles(graph, limit=20):
            first = next(
                stage
                for stage, target in self._transfer_edges[cycle[0]]
                if target == cycle[1 % len(cycle)]
            )
            shown = " → ".join(f"'{t}'" for t in [*cycle, cycle[0]])
            self.findings.append(
                info(
                    self.at(first, "tenant"),
                    f"transfers can go round {shown}; max_transfers_per_chat"
                    f" ({self.config.max_transfers_per_chat}) ends such a chain",
                )
            )

    # the Teams app

    def _ops(self) -> None:
        """The operations view's roles name tenants that exist, and grant something."""
        ops = self.config.ops
        ids = self.tenant_ids
        for name, role in ops.roles.items():
            at = ("ops", "roles", name)
            for grant in ("departments", "transcripts", "reports"):
                for position, tenant_id in enumerate(getattr(role, grant)):
                    if tenant_id != "*" and tenant_id not in self.tenants:
                        self.findings.append(
                            error(
                                self.source.where_of((*at, grant, position)),
                                f"'{tenant_id}' is not a tenant"
                                + _did_you_mean(tenant_id, ids)
                                + " (name tenant ids, or '*' for every tenant)",
                            )
                        )
            unseen = [
                tenant_id
                for tenant_id in role.transcripts
                if not role.admin
                and "*" not in role.departments
                and tenant_id != "*"
                and tenant_id not in role.departments
            ]
            for tenant_id in unseen:
                self.findings.append(
                    warning(
                        self.source.where_of((*at, "transcripts")),
                        f"'{tenant_id}' is not among this role's departments, so its holders"
                        " see none of its chats and read none of its messages; add it to"
                        " `departments`",
                    )
                )
            if not (role.admin or role.departments or role.transcripts or role.reports):
                self.findings.append(
                    warning(
                        self.source.where_of(at),
                        "grants nothing: give it `admin: true`, `departments`, `transcripts`"
                        " or `reports`",
                    )
                )
        names: set[str] = set()
        for index, persona in enumerate(ops.dev_personas):
            if persona.name in names:
                self.findings.append(
                    error(
                        self.source.where_of(("ops", "dev_personas", index, "name")),
                        f"a persona named '{persona.name}' is already listed",
                    )
                )
            names.add(persona.name)
            for position, role_name in enumerate(persona.roles):
                if role_name not in ops.roles:
                    self.findings.append(
                        warning(
                            self.source.where_of(("ops", "dev_personas", index, "roles", position)),
                            f"'{role_name}' is not a role in `ops.roles`: it grants this"
                            " persona nothing" + _did_you_mean(role_name, list(ops.roles)),
                        )
                    )

    def _teams_app(self) -> None:
        """What would make `crossdesk manifest` refuse the package, found now."""
        from manifest.package import branding_problems

        for field, problem in branding_problems(self.config.teams_app, self.source.path.parent):
            self.findings.append(error(self.source.where_of(tuple(field.split("."))), problem))

    # requests to other systems

    def _outbound(self) -> None:
        """Allowed hosts that are hosts, and webhooks on them with their secrets set."""
        for index, host in enumerate(self.config.outbound.allowed_hosts):
            if host_of(f"http://{host}/") is None or "/" in host:
                self.findings.append(
                    error(
                        self.source.where_of(("outbound", "allowed_hosts", index)),
                        f"'{host}' is not a host name or `name:port` (no scheme, no path)",
                    )
                )
        allowed_hosts = frozenset(h.lower() for h in self.config.outbound.allowed_hosts)
        for index, hook in enumerate(self.config.webhooks):
            hook_host = host_of(hook.url)
            if hook_host is None:
                self.findings.append(
                    error(
                        self.source.where_of(("webhooks", index, "url")),
                        "must be an absolute http:// or https:// URL",
                    )
                )
            elif not allowed(hook_host, allowed_hosts):
                self.findings.append(
                    error(
                        self.source.where_of(("webhooks", index, "url")),
                        f"host '{hook_host}' is not in outbound.allowed_hosts; add it there to let"
                        " webhooks reach it",
                    )
                )
            if not self.environment.get(hook.secret_name):
                self.findings.append(
                    error(
                        self.source.where_of(("webhooks", index, "secret")),
                        f"{hook.secret} is not set in the environment Crossdesk has",
                    )
                )


# --- helpers ------------------------------------------------------------------------------------


def _no_catalog(language: str) -> str:
    return (
        f"Crossdesk's own texts (help, end chat, …) come in {', '.join(LANGUAGES)}, not"
        f" '{language}': guests get them in English (texts of this configuration are not"
        " affected)"
    )


def _whose(tenant: Tenant, language: str) -> str:
    return "the tenant's" if tenant.default_language == language else "the configuration's"


def unclosed_bindings(text: str) -> list[int]:
    """The (1-based) columns of every `${` in `text` that no `}` closes (shown as written)."""
    columns: list[int] = []
    position = 0
    while position < len(text):
        if text[position] == "\\" and text[position + 1 : position + 2] in ("$", "`"):
            position += 2
            continue
        if text.startswith("${", position):
            end = binding_end(text, position)
            if end is None:
                columns.append(position + 1)
                position += 2
                continue
            position = end
            continue
        position += 1
    return columns


def _unclosed_in_json(node: Any, pointer: str) -> Iterator[tuple[str, int]]:
    if isinstance(node, str):
        for column in unclosed_bindings(node):
            yield pointer or "/", column
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _unclosed_in_json(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _unclosed_in_json(value, f"{pointer}/{index}")


def _excerpt(text: str, column: int, width: int = 30) -> str:
    piece = text[column - 1 : column - 1 + width]
    return piece + ("…" if len(text) > column - 1 + width else "")


def _version(template: Any) -> tuple[int, ...] | None:
    version = template.get("version") if isinstance(template, dict) else None
    if not isinstance(version, str) or not re.fullmatch(r"\d+(\.\d+)*", version):
        return None
    return tuple(int(part) for part in version.split("."))


def _paths(shape: Shape, prefix: tuple[str, ...] = ()) -> list[str]:
    """The dotted metadata paths a template or text reads (the leaves of its data shape)."""
    found: list[str] = []
    for name, child in shape.fields.items():
        path = (*prefix, name)
        if child.fields:
            found += _paths(child, path)
        else:
            found.append(".".join(path))
    return found


def _bound_key(stage: AnyStage) -> str | None:
    """The metadata key a `${Key}` transfer target reads, if it is exactly one plain key."""
    target = getattr(stage, "tenant", None)
    if not isinstance(target, str) or "${" not in target:
        return None
    parts = split_bindings(target.strip())
    if len(parts) != 1 or isinstance(parts[0], str):
        return None
    try:
        tree = compile_expression(parts[0].text).tree
    except ExpressionSyntaxError:
        return None
    if not isinstance(tree, Name) or tree.head.startswith("$"):
        return None
    if not all(isinstance(step, str) for step in tree.steps):
        return None
    return ".".join([tree.head, *tree.steps])


def _reachable(graph: Mapping[str, Sequence[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack += graph.get(node, [])
    return seen


def _cycles(graph: Mapping[str, Sequence[str]], limit: int = 10) -> list[list[str]]:
    """Elementary cycles, each once, starting at its first node in `graph`'s order."""
    order = {node: index for index, node in enumerate(graph)}
    found: list[list[str]] = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for target in graph.get(node, []):
            if len(found) >= limit:
                return
            if target == start:
                found.append(list(path))
            elif target not in path and order.get(target, -1) > order[start]:
                walk(start, target, [*path, target])

    for start in graph:
        walk(start, start, [start])
    return found[:limit]


def _node(data: Any, path: DataPath) -> Any:
    for step in path:
        if isinstance(data, dict):
            data = data.get(step)
        elif isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data):
            data = data[step]
        else:
            return None
    return data


_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _field_steps(node: Any, field: str | None) -> DataPath:
    """The data path of a field named like `choices[1].next` or `set.HR.Detail` (a key with
    dots) inside `node`."""
    if not field:
        return ()
    tokens: list[int | str] = [
        int(index) if index else name for index, name in _TOKEN.findall(field)
    ]
    steps: list[Any] = []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        if isinstance(token, int):
            steps.append(token)
            node = node[token] if isinstance(node, list) and token < len(node) else None
            position += 1
            continue
        taken = 1
        if isinstance(node, dict):
            for end in range(len(tokens), position, -1):
                names = tokens[position:end]
                if all(isinstance(n, str) for n in names) and ".".join(map(str, names)) in node:
                    taken = end - position
                    break
        key = ".".join(str(n) for n in tokens[position : position + taken])
        steps.append(key)
        node = node.get(key) if isinstance(node, dict) else None
        position += taken
    return tuple(steps)


def _did_you_mean(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if not close:
        folded = {c.casefold(): c for c in candidates}
        close = [folded[name.casefold()]] if name.casefold() in folded else []
    return f"; did you mean '{close[0]}'?" if close else ""


__all__ = ["CARD_VERSION", "builtin_keys", "check_configuration", "unclosed_bindings"]
