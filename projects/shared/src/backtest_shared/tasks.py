"""Stopping background asyncio tasks without ever hanging the process's exit."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

#: How often a cancel is repeated while waiting for a task to end.
RECANCEL_SECONDS = 0.5
#: How long tasks get to end once cancelled before they are left behind.
STOP_SECONDS = 5.0


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], *, timeout: float = STOP_SECONDS) -> None:
    """Cancel ``tasks`` and wait at most ``timeout`` seconds for them to end.

    A single cancel is not always enough: a task can swallow it (Python 3.11's
    ``asyncio.wait_for``, which psycopg_pool uses, is one known way to lose a
    cancel), and the process's exit must not hang on such a task. So the cancel
    is repeated every ``RECANCEL_SECONDS`` until the tasks end, and a task still
    running at the deadline is logged as ``task.stuck`` with where it waits, and
    left behind.
    """
    pending = {task for task in tasks if not task.done()}
    deadline = time.monotonic() + timeout
    while pending and (left := deadline - time.monotonic()) > 0:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(left, RECANCEL_SECONDS))
    for task in pending:
        fields = {"task": task.get_name(), "awaiting": await_chain(task.get_coro())}
        logger.error("task.stuck", extra={"fields": fields})


def await_chain(awaitable: Any) -> list[str]:
    """Where a suspended coroutine waits, innermost last (``Task.get_stack`` shows only the outer frame)."""
    places: list[str] = []
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is not None:
            places.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None)
    return places
