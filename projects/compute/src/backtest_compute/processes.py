"""Backtest processes as seen from the asyncio loop: send tasks, await their replies, or kill it.

Each process has a reader thread that blocks on its end of the pipe and hands
every message to the loop (``call_soon_threadsafe``). A result is a few hundred
kilobytes of JSON: reading it on the loop itself (``add_reader`` + a blocking
``recv``) would stall heartbeats and claims while a niced child trickles it
through the socket buffer. A process that dies (crash, OOM, SIGKILL on cancel
or timeout) shows up as end-of-file on the pipe; ``kill`` then ``start`` gives
the slot a fresh process.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import NamedTuple

from backtest_compute.child import CHILD_ENVIRONMENT
from backtest_compute.child import child_main
from backtest_compute.protocol import Failed
from backtest_compute.protocol import Finished
from backtest_compute.protocol import Progress
from backtest_compute.protocol import Ready
from backtest_compute.protocol import RunBacktest

#: How long a new backtest process may take to import the engine and say it is ready.
START_TIMEOUT_SECONDS = 60.0

# 'spawn' gives every child a clean interpreter: no inherited sockets, pool
# connections or event-loop state from the main process.
_context = multiprocessing.get_context("spawn")


class ProcessDiedError(Exception):
    """The backtest process exited while it held a task (crash, OOM kill, SIGKILL)."""


#: Called with (job id, fraction done) for the progress a process reports.
ProgressCallback = Callable[[str, float], None]


class TaskSpec(NamedTuple):
    """One task to run: the job, its dataset, its config as stored, and whether to store a summary."""

    job_id: str
    dataset_id: str
    config_json: str
    summary: bool = False


Reply = Finished | Failed


class BacktestProcess:
    """One long-lived backtest process; runs one task or one batch at a time. Use from the event loop only."""

    def __init__(self, index: int, database_url: str, cache_bytes: int, on_progress: ProgressCallback) -> None:
        self.index = index
        self._database_url = database_url
        self._cache_bytes = cache_bytes
        self._on_progress = on_progress
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        #: Incremented per started process, so messages from a replaced process are ignored.
        self._generation = 0
        self._ready: asyncio.Future[int] | None = None
        #: The reply each outstanding task's ``seq`` awaits, and its job id.
        self._replies: dict[int, tuple[str, asyncio.Future[Reply]]] = {}
        self._seq = 0
        #: Exit code of the last process reaped by ``kill`` (negative: killed by that signal).
        self.last_exitcode: int | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def alive(self) -> bool:
        return self._process is not None and self._conn is not None and self._process.is_alive()

    async def start(self) -> None:
        """Start a fresh process and wait until it has imported the engine."""
        loop = asyncio.get_running_loop()
        parent, child = _context.Pipe(duplex=True)
        for key, value in CHILD_ENVIRONMENT.items():
            # Spawned interpreters inherit os.environ at start; the main process
            # does no numeric work, so these settings are harmless there.
            os.environ.setdefault(key, value)
        process = _context.Process(
            target=child_main,
            args=(child, self._database_url, self._cache_bytes),
            name=f"backtest-{self.index}",
            daemon=True,
        )
        self._generation += 1
        self._ready = loop.create_future()
        self._process = process
        self._conn = parent
        await asyncio.to_thread(process.start)
        child.close()
        threading.Thread(
            target=self._read_loop,
            args=(parent, self._generation, loop),
            name=f"backtest-{self.index}-reader",
            daemon=True,
        ).start()
        try:
            async with asyncio.timeout(START_TIMEOUT_SECONDS):
                await asyncio.shield(self._ready)
        except BaseException:
            await self.kill()
            raise

    def start_task(self, task: TaskSpec) -> asyncio.Future[Reply]:
        """Send a task; the future gets its outcome as soon as the process sends it.

        Or ``ProcessDiedError`` if the process dies (or is killed) first. Tasks
        sent while one runs wait their turn in the process, in order.
        """
        if self._conn is None:
            raise ProcessDiedError(f"backtest process {self.index} is not running")
        self._seq += 1
        message = RunBacktest(
            seq=self._seq,
            job_id=task.job_id,
            dataset_id=task.dataset_id,
            config_json=task.config_json,
            summary=task.summary,
        )
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._replies[self._seq] = (task.job_id, future)
        try:
            self._conn.send(message)
        except OSError:
            self._detach()
        return future

    async def kill(self) -> None:
        """SIGKILL the process (a running backtest stops at once) and reap it."""
        process = self._process
        self._detach()
        if process is not None:
            if process.is_alive():
                process.kill()
            await asyncio.to_thread(process.join, 5.0)
            self.last_exitcode = process.exitcode

    async def stop(self, timeout: float = 2.0) -> None:
        """Ask an idle process to exit; kill it if it does not."""
        process = self._process
        if process is not None and self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            await asyncio.to_thread(process.join, timeout)
        await self.kill()

    def _detach(self) -> None:
        """Forget the current process; whoever waits for it learns that it died.

        The pipe itself is closed by the reader thread once the process is gone
        (closing it under a blocked ``recv`` would race with fd reuse).
        """
        self._conn = None
        error = ProcessDiedError(f"backtest process {self.index} died")
        replies, self._replies = self._replies, {}
        for _, future in replies.values():
            if not future.done():
                future.set_exception(error)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)

    def _read_loop(self, conn: Connection, generation: int, loop: asyncio.AbstractEventLoop) -> None:
        """Reader thread: forward every message to the loop until end-of-file."""
        try:
            while True:
                message = conn.recv()
                loop.call_soon_threadsafe(self._dispatch, generation, message)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()
            with contextlib.suppress(RuntimeError):  # the loop may already be closed at exit
                loop.call_soon_threadsafe(self._end_of_file, generation)

    def _end_of_file(self, generation: int) -> None:
        if generation == self._generation:
            self._detach()

    def _dispatch(self, generation: int, message: object) -> None:
        if generation != self._generation:
            return  # from a process that was replaced
        if isinstance(message, Ready):
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(message.pid)
            return
        if not isinstance(message, Progress | Finished | Failed):
            return
        waiting = self._replies.get(message.seq)
        if waiting is None or waiting[1].done():
            return  # a late message about a task we no longer wait for
        job_id, future = waiting
        if isinstance(message, Progress):
            self._on_progress(job_id, message.fraction)
        else:
            del self._replies[message.seq]
            future.set_result(message)
