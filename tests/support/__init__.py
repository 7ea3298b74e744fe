"""Helpers the tests import: real databases, captured spans, a browser site, a VNC server,
a TCP proxy and the planted-secret sweep. Fixtures stay in ``tests/conftest.py``."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip a test whose real dependency is missing, but fail it under CI=true."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)
