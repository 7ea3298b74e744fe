"""Shared timing and reporting for the benchmark scripts.

Every figure is a ratio against a baseline measured in the same run, with the two measured
in alternation (ABAB...) so that drift and noise on a shared machine hit both alike.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Row:
    """One line of a benchmark table."""

    figure: str
    value: str
    baseline: str
    ratio: str
    target: str = ""


def per_call(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn`` over ``number`` calls, with the collector paused."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number
    finally:
        if gc_was_enabled:
            gc.enable()


def alternating(
    candidates: dict[str, Callable[[], object]], *, number: int, rounds: int = 9
) -> dict[str, float]:
    """Median seconds per call of each candidate, measured round-robin ``rounds`` times."""
    for fn in candidates.values():  # warm up caches and lazy imports
        per_call(fn, max(1, number // 10))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            samples[name].append(per_call(fn, number))
    return {name: statistics.median(values) for name, values in samples.items()}


def micros(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def markdown(title: str, rows: list[Row], method: str) -> str:
    lines = [
        f"## {title}",
        "",
        method.strip(),
        "",
        "| figure | measured | baseline | ratio | target |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r.figure} | {r.value} | {r.baseline} | {r.ratio} | {r.target} |" for r in rows]
    return "\n".join(lines) + "\n"


def machine() -> str:
    import os

    return (
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"
    )


@contextmanager
def scratch_database(name: str) -> Iterator[str | None]:
    """A PostgreSQL database of this process's own (``<name>_<pid>``), dropped afterwards;
    None when PostgreSQL is not reachable."""
    database = f"{name}_{os.getpid()}"
    url = asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    try:
        yield None if url is None else f"postgresql://postgres@127.0.0.1:5432/{database}"
    finally:
        if url is not None:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


async def _admin(statement: str) -> str | None:
    """Run one statement as the cluster's admin; None when PostgreSQL is not reachable."""
    try:
        import asyncpg

        admin = await asyncpg.connect(PG_ADMIN, timeout=3)
    except Exception:
        return None
    try:
        await admin.execute(statement)
    finally:
        await admin.close()
    return PG_ADMIN


SCALE_TITLE = "Storage at scale"
"""The section ``make bench-scale`` writes and ``make bench`` keeps."""


def replace_section(document: str, title: str, section: str) -> str:
    """``document`` with its ``## title`` section (up to the next ``## ``) replaced by
    ``section``, which is appended when there is none."""
    kept, found = [], False
    skipping = False
    for block in document.split("\n## "):
        heading = block.split("\n", 1)[0].removeprefix("## ")
        skipping = heading == title
        if skipping:
            found = True
            kept.append(section.strip().removeprefix("## "))
        else:
            kept.append(block.strip("\n"))
    text = "\n\n## ".join(kept)
    if not found:
        text = text.rstrip("\n") + "\n\n" + section.strip()
    return text.rstrip("\n") + "\n"


def section(document: str, title: str) -> str | None:
    """The ``## title`` section of ``document`` (to the next ``## ``), or None."""
    for block in document.split("\n## "):
        if block.split("\n", 1)[0].removeprefix("## ") == title:
            return "## " + block.strip("\n") + "\n"
    return None
