"""Reading a call's arguments by parameter name: the one reader decorators and wrappers share.

``inspect.Signature.bind`` costs microseconds per call, too much around ``open()``; the
parameters' positions are worked out once per function (from its real signature, so no
position is typed by hand) and a read is then a dict lookup and an index.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class Parameters:
    """Where each named parameter of one function is found in a call's ``args`` and ``kwargs``.

    A value is read as Python binds it: by keyword, else by position, else the parameter's
    default (None when it has none, or when the function has no such parameter). A
    ``*args`` parameter reads as the tuple of the remaining positional arguments.
    """

    __slots__ = ("_rest", "_where")

    def __init__(self, func: Callable[..., Any], *, bound: bool = False) -> None:
        """``bound``: the call's ``args`` do not hold the first parameter (``self``), as for a
        method called on an instance through a wrapt wrapper."""
        self._where: dict[str, tuple[int | None, Any]] = {}
        self._rest: tuple[str, int] | None = None
        params = list(inspect.signature(func).parameters.values())
        for index, param in enumerate(params[1:] if bound else params):
            default = None if param.default is param.empty else param.default
            if param.kind in _POSITIONAL:
                self._where[param.name] = (index, default)
            elif param.kind is param.KEYWORD_ONLY:
                self._where[param.name] = (None, default)
            elif param.kind is param.VAR_POSITIONAL:
                self._rest = (param.name, index)

    def __contains__(self, name: str) -> bool:
        return name in self._where or (self._rest is not None and self._rest[0] == name)

    def get(self, args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str) -> Any:
        """The value of parameter ``name`` in this call."""
        where = self._where.get(name)
        if where is None:
            rest = self._rest
            return args[rest[1] :] if rest is not None and rest[0] == name else None
        if name in kwargs:
            return kwargs[name]
        index, default = where
        return args[index] if index is not None and index < len(args) else default

    def read(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any], names: Iterable[str]
    ) -> dict[str, Any]:
        """The values of several parameters, by name."""
        return {name: self.get(args, kwargs, name) for name in names}

    def replace(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str, value: Any
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's ``args`` and ``kwargs`` with parameter ``name`` set to ``value``, where
        the caller passed it (by keyword if it did not)."""
        index = self._where[name][0]
        if index is not None and index < len(args):
            return (*args[:index], value, *args[index + 1 :]), dict(kwargs)
        return args, {**kwargs, name: value}


@functools.lru_cache(maxsize=512)
def parameters(func: Callable[..., Any], *, bound: bool = False) -> Parameters:
    """The ``Parameters`` of ``func``, worked out once."""
    return Parameters(func, bound=bound)
