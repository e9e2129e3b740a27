"""Operator pruning: every final job older than a given age (with its results), batch after batch.

The same statements as the workers' reaper (``backtest_shared.jobs.retention``),
for a first clean-up of a long history or a retention change to apply at once.
Each batch is its own short transaction, so it is safe while the platform runs.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from backtest_shared.db.urls import psycopg_url
from backtest_shared.jobs.retention import Pruned
from backtest_shared.jobs.retention import prune_batch_sync

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_AGE = re.compile(r"(\d+(?:\.\d+)?)([dhms]?)")


def parse_age(text: str) -> float:
    """Seconds in an age such as ``30d``, ``12h``, ``90m``, ``45s`` (no unit: days); positive."""
    match = _AGE.fullmatch(text.strip())
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "d"] if match else 0.0
    if seconds <= 0:
        raise ValueError(f"age {text!r} is not a positive number of days, hours, minutes or seconds (e.g. 30d, 12h)")
    return seconds


def prune(database_url: str, keep_seconds: float, batch: int) -> Pruned:
    """Prune until a batch comes back short; returns the totals."""
    jobs = bundles = 0
    conn: psycopg.Connection[Any]
    with psycopg.connect(psycopg_url(database_url), autocommit=True, application_name="backtest-migrations") as conn:
        while True:
            pruned = prune_batch_sync(conn, keep_seconds, batch)
            jobs, bundles = jobs + pruned.jobs, bundles + pruned.bundles
            if pruned.short_of(batch):
                return Pruned(jobs=jobs, bundles=bundles)
