"""The SDK's `CloudAdapter`, with turns that reference counting frees as soon as they end.

`TurnContext._emit`, which runs the send hooks for every reply, builds a closure that refers to
itself. That reference cycle holds the turn context, and with it the whole turn (activity,
turn state, session), until the cyclic garbage collector finds it; at 200 concurrent chats those
collections scan every turn in flight and block the event loop for tens of milliseconds. Here
the turn context runs the same hooks, in the same order and with the same arguments, through a
small object instead, so a finished turn leaves no cycle behind.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity


class _Hooks:
    """The hooks of one send, update or delete: hook `index` gets a `next` running the rest."""

    __slots__ = ("_arg", "_context", "_hooks")

    def __init__(self, context: TurnContext, hooks: list[Any], arg: Any) -> None:
        self._context = context
        self._hooks = hooks
        self._arg = arg

    async def run(self, index: int = 0) -> None:
        if index < len(self._hooks):
            rest = functools.partial(self.run, index + 1)
            await self._hooks[index](self._context, self._arg, rest)


class CycleFreeTurnContext(TurnContext):
    """A `TurnContext` whose hook chain (`_emit`) creates no reference cycle."""

    async def _emit(self, plugins: list[Any], arg: Any, logic: Awaitable[Any]) -> Any:
        await _Hooks(self, list(plugins), arg).run()
        return await logic


class CrossdeskAdapter(CloudAdapter):
    """`CloudAdapter` building `CycleFreeTurnContext`s; everything else is the SDK's."""

    def _create_turn_context(
        self,
        activity: Activity,
        claims_identity: Any,
        oauth_scope: str | None,
        connector_client: Any,
        user_token_client: Any,
        logic: Callable[[TurnContext], Awaitable[None]],
        connector_factory: Any,
    ) -> TurnContext:
        # The SDK's own body, with the cycle-free context.
        context = CycleFreeTurnContext(self, activity)
        context.turn_state[self.BOT_IDENTITY_KEY] = claims_identity
        context.turn_state[self.BOT_CONNECTOR_CLIENT_KEY] = connector_client
        context.turn_state[self.USER_TOKEN_CLIENT_KEY] = user_token_client
        context.turn_state[self.BOT_CALLBACK_HANDLER_KEY] = logic
        context.turn_state[self.CONNECTOR_FACTORY_KEY] = connector_factory
        context.turn_state[self.BOT_OAUTH_SCOPE_KEY] = oauth_scope
        return context
