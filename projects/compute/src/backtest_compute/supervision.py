"""Supervision of the worker's tasks: a task that ends unexpectedly makes the worker stop.

Side tasks (claimer, heartbeat, listener, reaper, progress) run for the worker's
whole life, so one that ends at all (returns or raises) is a bug. Job and helper
tasks end by themselves; one that raises is a bug too. Either sets ``fatal``,
which ``Worker.run`` waits on to stop with a non-zero exit code instead of
limping on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

#: The worker's parts log under one logger name, so operators filter one name.
log = logging.getLogger("backtest_compute.worker")


class Supervisor:
    """Starts the worker's tasks and records the first fatal error among them."""

    def __init__(self, worker_id: uuid.UUID, stopping: asyncio.Event) -> None:
        self.worker_id = worker_id
        self._stopping = stopping
        #: Set to the first fatal error; None until ``start`` (errors before it are ignored).
        self.fatal: asyncio.Future[BaseException] | None = None

    def start(self) -> asyncio.Future[BaseException]:
        """Arm supervision on the running loop; returns the future of the first fatal error."""
        self.fatal = asyncio.get_running_loop().create_future()
        return self.fatal

    def supervise(
        self, name: str, coro: Coroutine[Any, Any, None], *, ends_when_stopping: bool = False
    ) -> asyncio.Task[None]:
        """Start a side task; its end is fatal unless it returns once stopping (if allowed to)."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(lambda t: self._on_side_task_done(name, t, ends_when_stopping))
        return task

    def _on_side_task_done(self, name: str, task: asyncio.Task[None], ends_when_stopping: bool) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if ends_when_stopping and error is None and self._stopping.is_set():
            return
        self.die(name, error or RuntimeError(f"{name} returned unexpectedly"))

    def track(self, tasks: set[asyncio.Task[None]], name: str, coro: Coroutine[Any, Any, None]) -> None:
        """Start a task kept in ``tasks`` while it runs; an exception from it is fatal."""
        task = asyncio.create_task(coro, name=name)
        tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.die(name, t.exception() or RuntimeError(name))

        task.add_done_callback(done)

    def die(self, name: str, error: BaseException) -> None:
        fields = {"worker": self.worker_id, "task": name, "error": f"{type(error).__name__}: {error}"}
        log.critical("worker.fatal", exc_info=error, extra={"fields": fields})
        if self.fatal is not None and not self.fatal.done():
            self.fatal.set_result(error)
