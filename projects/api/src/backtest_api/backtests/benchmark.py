"""Buy and hold over the same bars, beside the strategy's own return.

"Did the strategy beat holding the asset?" is the first question about any
backtest. The answer only needs the dataset's first and last close, so it is
computed here from the stored bars (once per dataset and API process: datasets
never change) rather than in the engine's result.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import anyio.to_thread
import pyarrow.parquet as pq

from backtest_api.core.state import Services

#: Datasets whose buy-and-hold return an API process remembers; a full cache starts over.
MAX_CACHED = 10_000
_CACHE: dict[uuid.UUID, float | None] = {}

LOAD = "SELECT parquet FROM datasets WHERE id = %(id)s"


def _return(parquet: bytes) -> float | None:
    close = pq.read_table(io.BytesIO(parquet), columns=["close"]).column("close").to_pylist()
    if len(close) < 2 or not close[0]:
        return None
    return float(close[-1]) / float(close[0]) - 1.0


async def buy_and_hold_return(services: Services, dataset_id: uuid.UUID) -> float | None:
    """Last close over first close, minus one (the same units as ``total_return``)."""
    if dataset_id in _CACHE:
        return _CACHE[dataset_id]
    async with services.pool.connection() as conn:
        cur = await conn.execute(LOAD, {"id": dataset_id})
        row: Any = await cur.fetchone()
    value = None if row is None else await anyio.to_thread.run_sync(_return, bytes(row[0]))
    if len(_CACHE) >= MAX_CACHED:
        _CACHE.clear()
    _CACHE[dataset_id] = value
    return value
