"""Who an activity is done for: attribution carried in a context variable.

A ``ContextVar`` follows asyncio tasks and threads started with a copied context
(``contextvars.copy_context().run``, ``asyncio.to_thread``), and nothing else.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType, TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from autobot_activity_otel.attributes import ACTIVITY_ORG_ID, ACTIVITY_TEAM_ID, SESSION_ID, USER_ID
from autobot_activity_otel.ids import parse_uuid

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Attribution:
    """The user, session and tenancy an activity is recorded for; every field may be unknown."""

    user_id: uuid.UUID | None = None
    session_id: str | None = None
    org_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    window_title: str | None = None
    application: str | None = None

    @cached_property
    def span_attributes(self) -> Mapping[str, str]:
        """The ids as span attributes, built once per attribution, not once per activity."""
        return MappingProxyType(self.attribute_dict)

    @cached_property
    def attribute_dict(self) -> dict[str, str]:
        """``span_attributes`` as the dict a record copies its attributes from (a plain
        dict copies faster than any other mapping); never to be changed."""
        ids = (
            (USER_ID, self.user_id),
            (SESSION_ID, self.session_id),
            (ACTIVITY_ORG_ID, self.org_id),
            (ACTIVITY_TEAM_ID, self.team_id),
        )
        return {key: str(value) for key, value in ids if value is not None}


_current: contextvars.ContextVar[Attribution] = contextvars.ContextVar(
    "autobot_activity_attribution",
    default=Attribution(),  # noqa: B039 - frozen, immutable
)


def current_attribution() -> Attribution:
    return _current.get()


def explicit_attribution(
    user_id: uuid.UUID | str | None = None, session_id: str | None = None
) -> Attribution:
    """The current attribution, overridden by ids a caller passed explicitly.

    An explicit id that is not a UUID raises ``ValueError``: the caller asked for it.
    """
    attribution = _current.get()
    user = attribution.user_id if user_id is None else parse_uuid(user_id, "user_id")
    session = attribution.session_id if session_id is None else str(session_id)
    if user == attribution.user_id and session == attribution.session_id:
        return attribution  # the usual case inside activity_context: reuse its attributes
    key = (id(attribution), user, session)
    known = _explicit.get(key)
    if known is not None and known[0] is attribution:
        return known[1]  # the same ids again: reuse the attribution and its span attributes
    explicit = Attribution(
        user_id=user,
        session_id=session,
        org_id=attribution.org_id,
        team_id=attribution.team_id,
        window_title=attribution.window_title,
        application=attribution.application,
    )
    if len(_explicit) >= _MAX_EXPLICIT:
        _explicit.clear()
    _explicit[key] = (attribution, explicit)
    return explicit


_MAX_EXPLICIT = 1024
_explicit: dict[tuple[int, uuid.UUID | None, str | None], tuple[Attribution, Attribution]] = {}
"""Explicit attributions already built, by (context's attribution, user, session): an
explicit call in a loop builds its attribution, and its span attributes, once."""


class activity_context:
    """Attribute the activities inside to a user (and session, org, team).

    Use as ``with activity_context(user_id=...):``, ``async with``, or as a decorator.
    Fields left out are inherited from an enclosing context. Ids are validated here, so a
    wrong id fails loudly at the call site instead of silently unattributing activities.
    """

    def __init__(
        self,
        user_id: uuid.UUID | str | None = None,
        session_id: str | None = None,
        org_id: uuid.UUID | str | None = None,
        team_id: uuid.UUID | str | None = None,
        *,
        window_title: str | None = None,
        application: str | None = None,
    ) -> None:
        self._given = Attribution(
            user_id=None if user_id is None else parse_uuid(user_id, "user_id"),
            session_id=None if session_id is None else str(session_id),
            org_id=None if org_id is None else parse_uuid(org_id, "org_id"),
            team_id=None if team_id is None else parse_uuid(team_id, "team_id"),
            window_title=window_title,
            application=application,
        )
        """The fields given; None inherits the enclosing context's."""
        self._tokens: list[contextvars.Token[Attribution]] = []

    def __enter__(self) -> Attribution:
        outer, given = _current.get(), self._given
        attribution = Attribution(
            user_id=outer.user_id if given.user_id is None else given.user_id,
            session_id=outer.session_id if given.session_id is None else given.session_id,
            org_id=outer.org_id if given.org_id is None else given.org_id,
            team_id=outer.team_id if given.team_id is None else given.team_id,
            window_title=outer.window_title if given.window_title is None else given.window_title,
            application=outer.application if given.application is None else given.application,
        )
        self._tokens.append(_current.set(attribution))
        return attribution

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> Attribution:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(func):
            call_async = cast(Callable[P, Awaitable[Any]], func)

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                with self:
                    return await call_async(*args, **kwargs)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                return func(*args, **kwargs)

        return wrapper
