"""Activity ids and attribution: the contracts every activity type relies on."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import uuid

import pytest

from autobot_activity_otel import activity_context, current_attribution
from autobot_activity_otel.ids import new_activity_id, new_activity_text

USER, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)


def test_ids_are_uuid7_unique_and_time_ordered():
    ids = [new_activity_id() for _ in range(20_000)]
    assert all(activity_id.version == 7 for activity_id in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_a_forked_child_draws_its_own_random_bits():
    new_activity_text()  # the parent holds unused random bits now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then out without pytest's teardown
        os.write(write, new_activity_text().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    parent = new_activity_text()  # the bits a child sharing the parent's would have used
    assert len(child) == 36
    assert child[-12:] != parent[-12:]


def test_nested_contexts_inherit_and_restore():
    with activity_context(user_id=str(USER), session_id="s1", org_id=OTHER):
        with activity_context(session_id="s2"):
            inner = current_attribution()
        outer = current_attribution()
    assert (inner.user_id, inner.session_id, inner.org_id) == (USER, "s2", OTHER)
    assert outer.session_id == "s1"
    assert current_attribution().user_id is None


def test_invalid_ids_fail_at_the_call_site():
    with pytest.raises(ValueError, match="org_id must be a UUID"):
        activity_context(user_id=USER, org_id="acme")


async def test_decorator_sync_and_async_and_tasks():
    @activity_context(user_id=USER)
    def sync_handler():
        return current_attribution().user_id

    @activity_context(user_id=OTHER)
    async def async_handler():
        return await asyncio.create_task(asyncio.sleep(0, current_attribution().user_id))

    assert sync_handler() == USER and await async_handler() == OTHER
    assert current_attribution().user_id is None


def test_threads_see_it_only_with_a_copied_context():
    seen = {}
    with activity_context(user_id=USER):
        context = contextvars.copy_context()
        plain = threading.Thread(target=lambda: seen.update(plain=current_attribution().user_id))
        copied = threading.Thread(
            target=context.run, args=(lambda: seen.update(copied=current_attribution().user_id),)
        )
        for thread in (plain, copied):
            thread.start()
            thread.join()
    assert seen == {"plain": None, "copied": USER}
