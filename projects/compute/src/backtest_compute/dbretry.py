"""Retrying database calls through transient faults (server restarts, dropped connections).

Only errors that say "the connection or server failed" are retried; a SQL error
(a bug, a constraint) is raised at once. Every queue statement is fenced and
idempotent for the worker's purposes (a repeated COMPLETE or FAIL after an
ambiguous commit just matches no row), so retrying a write is safe.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from collections.abc import Callable
from typing import TypeVar

import psycopg
import psycopg_pool
from tenacity import AsyncRetrying
from tenacity import RetryCallState
from tenacity import retry_if_exception_type
from tenacity import stop_after_delay
from tenacity import wait_exponential_jitter

from backtest_compute.logs import event

T = TypeVar("T")

log = logging.getLogger("backtest_compute.db")

#: Errors after which the same statement may succeed on a fresh connection.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.errors.AdminShutdown,
    psycopg.errors.CannotConnectNow,
    psycopg_pool.PoolTimeout,
    ConnectionError,
)

#: The same, plus a statement that did not answer in time (asyncio.wait_for).
TRANSIENT_OR_TIMEOUT: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, TimeoutError)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    event(
        log,
        "db.retry",
        logging.WARNING,
        attempt=state.attempt_number,
        error=f"{type(error).__name__}: {error}".strip(),
    )


async def with_retry(call: Callable[[], Awaitable[T]], *, give_up_after: float) -> T:
    """Run ``call`` until it succeeds, retrying transient errors with jittered exponential backoff."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT_ERRORS),
        wait=wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.1),
        stop=stop_after_delay(give_up_after),
        before_sleep=_log_retry,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity either returns or raises")
