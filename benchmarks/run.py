"""``make bench``: run every benchmark in its own process and write docs/benchmarks.md.

Each benchmark sets up its own OpenTelemetry SDK, which a process can do only once, hence
one process per benchmark. A benchmark whose real dependency is missing (PostgreSQL,
Chromium, a VNC server) reports why and the others still run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from autobot_activity_otel import settings
from benchmarks.harness import SCALE_TITLE, machine, section

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = (
    "bench_overhead",
    "bench_secrets",
    "bench_exporter",
    "bench_service",
    "bench_pipeline",
    "bench_journal",
    "bench_integrity",
    "bench_file",
    "bench_browser",
    "bench_desktop",
    "bench_report",
)
HEADER = """# Benchmarks

Written by `make bench` (`benchmarks/run.py`); every figure is from the run below, each
measured as a ratio against a baseline in the same run, because these machines are noisy.
The method of each table is stated above it.

Run: {date}, {machine}; {seconds:.0f} s in all.
"""


def main() -> int:
    started = time.monotonic()
    sections = []
    for name in BENCHMARKS:
        print(f"running {name} ...", flush=True)
        # State (journals, the fingerprint key) goes to a folder removed after the benchmark.
        with tempfile.TemporaryDirectory(prefix="autobot-activity-bench-") as state:
            environment = os.environ | {settings.STATE_DIR: state}
            result = subprocess.run(
                [sys.executable, "-m", f"benchmarks.{name}"],
                cwd=ROOT,
                env=environment,
                capture_output=True,
                text=True,
                timeout=240,
            )
        if result.returncode == 0:
            sections.append(result.stdout.strip())
        else:
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            sections.append(f"## {name}\n\nNot measured in this run: {reason}")
        print(sections[-1], flush=True)
    header = HEADER.format(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine(),
        seconds=time.monotonic() - started,
    )
    document = ROOT / "docs" / "benchmarks.md"
    scale = section(document.read_text(), SCALE_TITLE) if document.exists() else None
    if scale is not None:  # `make bench-scale` writes it, far less often
        sections.append(scale.strip())
    document.write_text("\n\n".join([header, *sections]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
