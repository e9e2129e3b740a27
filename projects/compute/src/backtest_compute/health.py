"""The worker's own health: which of its loops keep failing on errors a retry cannot fix.

A database error that is not transient (a constraint violation, bad data) in a
claim or a reap must not stop the worker: its running jobs still need their
heartbeats and their results written, and a restart would only meet the same
error. The loop that met it backs off and tries again; the worker reports
itself degraded (in its heartbeat, so the registry, ``/api/v1/workers`` and the
API's ``/metrics`` show it) until that loop succeeds again.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from backtest_compute.logs import event

log = logging.getLogger("backtest_compute.health")

#: The longest a failing loop waits before it tries again.
MAX_BACKOFF_SECONDS = 30.0


def describe_database_error(error: psycopg.Error) -> dict[str, Any]:
    """What an operator needs to find the rows involved: SQLSTATE, constraint, table and the keys."""
    diag = error.diag
    return {
        "sqlstate": error.sqlstate,
        "error": (diag.message_primary or str(error)).strip(),
        "detail": diag.message_detail,
        "constraint": diag.constraint_name,
        "table": diag.table_name,
    }


class WorkerHealth:
    """The failing loops and why; healthy when none is failing."""

    def __init__(self) -> None:
        self._failing: dict[str, str] = {}
        self._backoff: dict[str, float] = {}

    def failed(self, loop: str, statement: str, error: psycopg.Error, **context: Any) -> float:
        """Record a non-transient database error of ``loop``; returns how long to back off."""
        described = describe_database_error(error)
        event(log, f"{loop}.error", logging.ERROR, statement=statement, **described, **context)
        self._failing[loop] = f"{loop}: {described['error']}" + (
            f" ({described['detail']})" if described["detail"] else ""
        )
        delay = min(self._backoff.get(loop, 0.5) * 2, MAX_BACKOFF_SECONDS)
        self._backoff[loop] = delay
        return delay

    def succeeded(self, loop: str) -> None:
        if self._failing.pop(loop, None) is not None:
            event(log, f"{loop}.recovered", logging.WARNING)
        self._backoff.pop(loop, None)

    @property
    def failing(self) -> frozenset[str]:
        """The loops failing now."""
        return frozenset(self._failing)

    @property
    def degraded(self) -> str | None:
        """Why the worker is degraded (None: healthy), for the registry."""
        return "; ".join(self._failing[loop] for loop in sorted(self._failing)) or None
