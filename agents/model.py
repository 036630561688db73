"""Agents as the configuration lists them, indexed for the runtime and the Teams edge."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: An agent id: lower-case letters, digits, '-' and '_' (as tenant ids).
AGENT_ID = r"^[a-z0-9][a-z0-9_-]*$"

#: The name of a tenant's own list of agents (its `agents:`), which stages use by default.
ALL = ""


class Agent(BaseModel):
    """A person who answers chats from their own Teams client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[
        str,
        Field(pattern=AGENT_ID, description="The agent's id, as tenants' agent lists name it."),
    ]
    name: Annotated[
        str, Field(min_length=1, description="The name guests see, e.g. 'Alex Wilber'.")
    ]
    aad_object_id: Annotated[
        str | None,
        Field(description="The agent's Microsoft Entra object id (as Teams sends it)."),
    ] = None
    upn: Annotated[
        str | None,
        Field(description="The agent's user principal name (sign-in name), e.g. alex@contoso.com."),
    ] = None
    max_chats: Annotated[
        int, Field(ge=1, le=20, description="How many chats the agent holds at once.")
    ] = 1


class AgentDirectory:
    """The configured agents by id, Entra object id and sign-in name, and each tenant's lists
    of them (`ALL` is the tenant's own list)."""

    def __init__(
        self,
        agents: Iterable[Agent],
        lists: Mapping[str, Mapping[str, Sequence[str]]],
    ) -> None:
        self.by_id = {agent.id: agent for agent in agents}
        self.by_aad = {
            agent.aad_object_id.lower(): agent
            for agent in self.by_id.values()
            if agent.aad_object_id
        }
        self.by_upn = {agent.upn.lower(): agent for agent in self.by_id.values() if agent.upn}
        self.lists = {
            tenant: {name: tuple(ids) for name, ids in named.items()}
            for tenant, named in lists.items()
        }

    def identify(self, aad_object_id: str | None, upn: str | None = None) -> Agent | None:
        """The agent a Teams user is, by Entra object id or sign-in name."""
        if aad_object_id and aad_object_id.lower() in self.by_aad:
            return self.by_aad[aad_object_id.lower()]
        if upn and upn.lower() in self.by_upn:
            return self.by_upn[upn.lower()]
        return None

    def of(self, tenant_id: str, list_name: str = ALL) -> tuple[Agent, ...]:
        """The agents of a tenant's list (unknown tenant or list: none)."""
        ids = self.lists.get(tenant_id, {}).get(list_name, ())
        return tuple(self.by_id[agent_id] for agent_id in ids if agent_id in self.by_id)

    def tenants_of(self, agent_id: str) -> frozenset[str]:
        """The tenants whose lists name the agent: whose chats they may answer."""
        return frozenset(
            tenant
            for tenant, named in self.lists.items()
            if any(agent_id in ids for ids in named.values())
        )
