"""Known secrets: found anywhere, attributed to their id, held without their plain value."""

from __future__ import annotations

import gc
import threading
import uuid

import pytest
from support.planted import plant

from autobot_activity_otel.secrets import (
    fingerprint,
    redact,
    register_secret,
    registered_secret,
    unregister_secret,
)
from autobot_activity_otel.secrets.registry import REGISTRY, Registry

PLANTED = plant("Br0ker-Injected-Value-7731")


def test_a_registered_value_is_redacted_in_every_kind_and_attributed() -> None:
    secret_id = uuid.uuid4()
    with registered_secret(secret_id, PLANTED):
        for kind in ("command", "output", "url", "keystrokes", "text"):
            text = f"before {PLANTED} middle x{PLANTED}y after"
            result = redact(text, kind)
            leaked = PLANTED in result.text
            assert not leaked, "registered secret leaked"
            assert result.text.count(f"[REDACTED:secret:{secret_id}]") == 2
            assert [f.secret_id for f in result.findings] == [secret_id, secret_id]
            assert all(f.fingerprint == fingerprint(PLANTED) for f in result.findings)
            assert [text[f.start : f.end] == PLANTED for f in result.findings] == [True, True]
    assert redact(PLANTED).findings == ()  # unregistered on exit


def test_short_values_of_every_length_are_found_at_every_offset() -> None:
    for length in range(4, 16):
        value = "Qz9Lw5Rt7Nm3Pd8X"[:length]
        secret_id = uuid.uuid4()
        with registered_secret(secret_id, value):
            for offset in range(5):
                result = redact("." * offset + value + "!", "output")
                assert [(f.start, f.secret_id) for f in result.findings] == [(offset, secret_id)]


def _reachable_strings(root: object, depth: int = 6) -> set[str]:
    """Every string reachable from ``root`` through object references (not through types)."""
    seen: set[int] = set()
    found: set[str] = set()
    layer = [root]
    for _ in range(depth):
        following = []
        for obj in layer:
            if id(obj) in seen or isinstance(obj, type):
                continue
            seen.add(id(obj))
            if isinstance(obj, str):
                found.add(obj)
            else:
                following.extend(gc.get_referents(obj))
        layer = following
    return found


def test_the_registry_never_holds_or_shows_a_value() -> None:
    registry = Registry()
    registry.register(uuid.uuid4(), PLANTED)
    registry.register(uuid.uuid4(), "short1")
    shown = repr(registry) + repr(registry._by_id) + repr(registry._grams) + repr(registry._short)
    leaked = PLANTED in shown or "short1" in shown
    assert not leaked, "registered value visible in a repr"
    held = _reachable_strings(registry)
    leaked = any(PLANTED in s or "short1" in s for s in held)
    assert not leaked, "registered value held in plain form"


def test_values_too_short_to_match_safely_are_refused() -> None:
    with pytest.raises(ValueError) as refused:
        register_secret(uuid.uuid4(), "abc")
    assert "abc" not in str(refused.value)


def test_re_registering_an_id_replaces_its_value() -> None:
    secret_id = uuid.uuid4()
    register_secret(secret_id, "first-value-1234")
    register_secret(secret_id, "second-value-5678")
    try:
        assert redact("first-value-1234").findings == ()
        assert redact("second-value-5678").findings[0].secret_id == secret_id
    finally:
        unregister_secret(secret_id)
    unregister_secret(secret_id)  # unknown ids are ignored


def test_thousands_registered_and_unregistered_leave_nothing_behind() -> None:
    before = len(REGISTRY), len(REGISTRY._grams)
    ids = [uuid.uuid4() for _ in range(3000)]
    for n, secret_id in enumerate(ids):
        register_secret(secret_id, f"tok-{n:05d}-{secret_id.hex[:8]}")
    try:
        target = ids[2024]
        result = redact(f"curl -d tok-02024-{target.hex[:8]} x", "command")
        assert [f.secret_id for f in result.findings] == [target]
    finally:
        for secret_id in ids:
            unregister_secret(secret_id)
    assert (len(REGISTRY), len(REGISTRY._grams)) == before


def test_concurrent_registration_and_redaction() -> None:
    errors: list[BaseException] = []

    def churn(worker: int) -> None:
        try:
            for n in range(200):
                secret_id = uuid.uuid4()
                value = f"thread{worker}-value-{n:04d}"
                with registered_secret(secret_id, value):
                    result = redact(f"echo {value}", "command")
                    assert secret_id in {f.secret_id for f in result.findings}
        except BaseException as exc:  # collected, re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
