"""A real VNC server for tests and benchmarks: Xvfb on a free display, x11vnc on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

WIDTH, HEIGHT = 800, 600
MISSING = "Xvfb/x11vnc not installed (apt-get install xvfb x11vnc)"


def installed() -> bool:
    return bool(shutil.which("Xvfb") and shutil.which("x11vnc"))


@dataclass(frozen=True)
class VNCServer:
    host: str
    port: int
    display: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """Xvfb on the first free display, which it reports itself (``-displayfd``)."""
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            f"{WIDTH}x{HEIGHT}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        number = reader.readline().strip().decode()
    if not number:
        process.kill()
        raise RuntimeError("Xvfb did not report a display")
    return process, f":{number}"


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"x11vnc exited with {process.returncode}")
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError("x11vnc did not listen in time")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_vnc_server() -> Iterator[VNCServer]:
    """Start Xvfb and x11vnc (loopback only, no password), stop both on exit."""
    xvfb, display = _start_xvfb()
    try:
        for _attempt in range(3):  # another process may take the probed port first
            port = _free_port()
            x11vnc = subprocess.Popen(
                [
                    "x11vnc",
                    "-display",
                    display,
                    "-rfbport",
                    str(port),
                    "-localhost",
                    "-nopw",
                    "-forever",
                    "-shared",
                    "-quiet",
                    "-noxdamage",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                _wait_for_port(port, x11vnc, timeout=15)
            except RuntimeError:
                _stop(x11vnc)
                continue
            try:
                yield VNCServer("127.0.0.1", port, display)
            finally:
                _stop(x11vnc)
            return
        raise RuntimeError("x11vnc could not be started")
    finally:
        _stop(xvfb)
