"""Storing and loading datasets (OHLCV as Parquet bytes in the ``datasets`` table)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from backtest_shared.engine import OHLCV
from backtest_shared.engine import load_parquet
from backtest_shared.engine import ohlcv_content_hash
from backtest_shared.engine import to_parquet_bytes
from backtest_shared.engine import validate_ohlcv


class DatasetInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    content_hash: str
    n_bars: int
    first_timestamp: int
    last_timestamp: int
    size_bytes: int
    created_at: dt.datetime


_COLUMNS = "id, owner_id, name, content_hash, n_bars, first_timestamp, last_timestamp, size_bytes, created_at"

INSERT_DATASET = f"""
INSERT INTO datasets (id, owner_id, name, content_hash, n_bars, first_timestamp, last_timestamp,
                      size_bytes, parquet)
VALUES (%(id)s, %(owner_id)s, %(name)s, %(content_hash)s, %(n_bars)s, %(first_timestamp)s,
        %(last_timestamp)s, %(size_bytes)s, %(parquet)s)
RETURNING {_COLUMNS}
"""
GET_DATASET = f"SELECT {_COLUMNS} FROM datasets WHERE id = %(id)s"
LOAD_PARQUET = "SELECT content_hash, parquet FROM datasets WHERE id = %(id)s"


class DatasetCorruptError(Exception):
    """The stored bytes do not hash to the stored content hash."""


def stored_ohlcv(dataset_id: object, content_hash: str, parquet: bytes) -> OHLCV:
    """The bars of a dataset's stored Parquet bytes (``LOAD_PARQUET``), checked against the
    content hash stored with them: results computed from corrupt bytes would be silently wrong."""
    data = load_parquet(parquet)
    if ohlcv_content_hash(data) != content_hash:
        raise DatasetCorruptError(f"dataset {dataset_id}: stored data does not match its content hash")
    return data


async def insert_dataset(pool: AsyncConnectionPool[Any], owner_id: uuid.UUID, name: str, data: OHLCV) -> DatasetInfo:
    """Validate and store a dataset; the engine's rules apply before anything is written."""
    validate_ohlcv(data)
    parquet = to_parquet_bytes(data)
    params = {
        "id": uuid.uuid4(),
        "owner_id": owner_id,
        "name": name,
        "content_hash": ohlcv_content_hash(data),
        "n_bars": len(data.close),
        "first_timestamp": int(data.timestamps[0]),
        "last_timestamp": int(data.timestamps[-1]),
        "size_bytes": len(parquet),
        "parquet": parquet,
    }
    async with pool.connection() as conn:
        cur = await conn.execute(INSERT_DATASET, params)
        row = await cur.fetchone()
    assert row is not None
    return DatasetInfo(**dict(zip(_COLUMNS.split(", "), row, strict=False)))


async def get_dataset(pool: AsyncConnectionPool[Any], dataset_id: uuid.UUID) -> DatasetInfo | None:
    async with pool.connection() as conn:
        cur = await conn.execute(GET_DATASET, {"id": dataset_id})
        row = await cur.fetchone()
    return None if row is None else DatasetInfo(**dict(zip(_COLUMNS.split(", "), row, strict=False)))


async def load_dataset_parquet(pool: AsyncConnectionPool[Any], dataset_id: uuid.UUID) -> tuple[str, bytes] | None:
    """The dataset's content hash and Parquet bytes, or None if it does not exist."""
    async with pool.connection() as conn:
        cur = await conn.execute(LOAD_PARQUET, {"id": dataset_id})
        row = await cur.fetchone()
    return None if row is None else (row[0], bytes(row[1]))
