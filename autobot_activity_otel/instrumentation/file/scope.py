"""Which paths are tracked: under a configured root, and not one of the tracker's own files.

Every program opens hundreds of files nobody asked about, so the test that rejects them must
cost next to nothing: a ``str.startswith`` against a tuple of root prefixes on the path as
given, before any normalisation, ``getcwd`` or filesystem access. Only a path that passes
is resolved (symlinks followed) to record where it really lies.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from autobot_activity_otel import settings

_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
_FD_DIR = "/proc/self/fd/" if sys.platform.startswith("linux") else None
_POSIX = os.sep == "/" and os.altsep is None
"""Paths are absolute exactly when they start with ``/``, and join with one ``/``."""


@dataclass(frozen=True, slots=True)
class Target:
    """A tracked path: where it really lies, as the caller gave it, and whether it escaped."""

    path: str
    given: str
    traversal: bool


def _as_text(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    value = os.fspath(path)
    return value if isinstance(value, str) else os.fsdecode(value)


def fd_path(fd: int) -> str | None:
    """The path an open file descriptor refers to (Linux ``/proc``), or None."""
    if _FD_DIR is None:
        return None
    try:
        return os.readlink(f"{_FD_DIR}{fd}")
    except (OSError, ValueError, OverflowError):
        return None


def _forms(path: str) -> set[str]:
    """A path as written (absolute, normalised) and with its symlinks resolved."""
    absolute = os.path.abspath(path)
    return {absolute, os.path.realpath(absolute)}


class Scope:
    """Tracked roots and ignored paths; one instance per process (``SCOPE``)."""

    def __init__(self) -> None:
        self.roots: frozenset[str] = frozenset()
        self._prefixes: tuple[str, ...] = ()
        self._ignored: frozenset[str] = frozenset()
        self._ignored_prefixes: tuple[str, ...] = ()

    def set_roots(self, roots: Iterable[str | bytes | os.PathLike[str]]) -> None:
        forms: set[str] = set()
        for root in roots:
            text = _as_text(root)
            if text:
                forms |= _forms(text)
        self.roots = frozenset(root.rstrip(os.sep) or os.sep for root in forms)
        self._prefixes = tuple(root.rstrip(os.sep) + os.sep for root in forms)

    def ignore(self, path: str | bytes | os.PathLike[str]) -> None:
        """Never track ``path``, anything under it, or its SQLite companion files."""
        forms = _forms(_as_text(path))
        self._ignored |= {form + suffix for form in forms for suffix in ("", *_SQLITE_COMPANIONS)}
        self._ignored_prefixes = tuple(form.rstrip(os.sep) + os.sep for form in self._ignored)

    def candidate(self, path: object, dir_fd: int | None = None) -> str | None:
        """The absolute path if it may lie under a root, else None; the cheap test comes first.

        An absolute path with no ``.`` or empty component is decided by two string tests;
        only a relative or unnormalised one costs a ``getcwd`` or a ``normpath``.
        """
        prefixes = self._prefixes
        if not prefixes:
            return None
        text = path if type(path) is str else _path_text(path)
        if text is None:
            return None
        if text.startswith(prefixes):
            return text
        if text[:1] != "/":
            if not _POSIX and os.path.isabs(text):
                text = os.path.normpath(text)
            else:
                text = _join(text, dir_fd)
                if text is None:
                    return None
            if text.startswith(prefixes):
                return text
        if "/." in text or "//" in text:
            text = os.path.normpath(text)
            if text.startswith(prefixes):
                return text
        return text if text in self.roots else None

    def resolve(
        self, path: object, given: object, *, dir_fd: int | None = None, follow: bool = True
    ) -> Target | None:
        """Where a path really lies; None for the tracker's own files or an unusable path.

        ``path`` is a candidate, or the other end of a move or copy that lies outside the roots.
        ``follow=False`` resolves the parent only, for operations on a link itself (delete,
        rename): removing a symlink removes the link, not what it points to. A path written
        under a root that really lies outside (through ``..`` or a symlink) is a traversal.
        """
        text = path if type(path) is str else _path_text(path)
        if text is not None and not os.path.isabs(text):
            text = _join(text, dir_fd)
        if text is None:
            return None
        if follow:
            real = os.path.realpath(text)
        else:
            head, tail = os.path.split(os.path.normpath(text))
            real = os.path.join(os.path.realpath(head), tail)
        return self.target(text, real, given)

    def target(self, written: str, real: str, given: object) -> Target | None:
        """A path written one way that really lies at ``real``; None for our own files."""
        if self.ignored(real) or self.ignored(written):
            return None
        written_inside = written.startswith(self._prefixes) or written in self.roots
        really_inside = real.startswith(self._prefixes) or real in self.roots
        return Target(real, given_text(given), traversal=written_inside and not really_inside)

    def ignored(self, path: str) -> bool:
        """One of the tracker's own files (``ignore_path``)."""
        return bool(self._ignored) and (
            path in self._ignored or path.startswith(self._ignored_prefixes)
        )


def _path_text(path: object) -> str | None:
    """A str, bytes, path-like or file descriptor as path text; None if it is none of these."""
    if isinstance(path, int) and not isinstance(path, bool):
        return fd_path(path)
    try:
        return _as_text(path)  # type: ignore[arg-type]
    except Exception:  # not a path, or a path-like that fails: the wrapped call will say so
        return None


def _join(relative: str, dir_fd: int | None) -> str | None:
    """A relative path made absolute against ``dir_fd`` or the working directory."""
    if dir_fd is not None:
        base = fd_path(dir_fd)
    else:
        try:
            base = os.getcwd()
        except OSError:  # the working directory was removed
            return None
    if base is None:
        return None
    if _POSIX:  # what ``os.path.join`` returns for a relative path, without its checks
        return f"{base}{relative}" if base.endswith("/") else f"{base}/{relative}"
    return os.path.join(base, relative)


def normalised(path: str) -> str:
    """An absolute path without ``.`` or ``..`` components or doubled or trailing
    separators; ``normpath`` runs only when one of these may be there."""
    if _POSIX and "/." not in path and "//" not in path and not path.endswith("/"):
        return path
    return os.path.normpath(path)


def given_text(path: object) -> str:
    """A path as the caller gave it, as text (bytes decoded, a descriptor as ``fd:N``)."""
    if isinstance(path, int) and not isinstance(path, bool):
        return f"fd:{path}"
    try:
        return _as_text(path)  # type: ignore[arg-type]
    except Exception:
        return f"<{type(path).__name__}>"


SCOPE = Scope()


def roots_from_environment() -> list[str]:
    return settings.path_list(settings.FILE_ROOTS)


def ignore_path(path: str | bytes | os.PathLike[str]) -> None:
    """Never track this path (or anything under it): for the tracker's own database and journal."""
    SCOPE.ignore(path)
