"""The ``autobot-activity`` command run as a real subprocess, piped or in a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from autobot_activity_otel import settings

CLI = str(Path(sys.executable).parent / "autobot-activity")


def cli_env() -> dict[str, str]:
    """The environment without our settings but the test's state folder (not the home's),
    and with no instrumentor loading by itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AUTOBOT_"))}
    env[settings.STATE_DIR] = os.environ[settings.STATE_DIR]
    env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "autobot_file,autobot_playwright,autobot_vnc"
    return env


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command with its output piped (not a terminal)."""
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=60
    )


def cli_in_terminal(*args: str, columns: int, rows: int = 50) -> tuple[int, str]:
    """Run the command with its output on a pseudo-terminal of ``columns`` x ``rows``.

    Returns the exit status and what the terminal received, with the terminal's CR LF
    line ends made plain LF.
    """
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = cli_env()
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    process = subprocess.Popen(
        [CLI, *args], stdin=terminal, stdout=terminal, stderr=subprocess.PIPE, env=env
    )
    os.close(terminal)
    received = bytearray()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            received += chunk
        elif process.poll() is not None:
            break
    os.close(controller)
    status = process.wait(timeout=30)
    assert process.stderr is not None
    process.stderr.close()
    return status, received.decode("utf-8").replace("\r\n", "\n")
