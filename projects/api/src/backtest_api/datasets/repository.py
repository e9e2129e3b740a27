"""Dataset reads and deletes, scoped to an owner (None: any owner, for admins)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from backtest_api.datasets.schemas import Dataset

_COLUMNS = "id, name, content_hash, n_bars, first_timestamp, last_timestamp, size_bytes, created_at"

GET = f"""
SELECT {_COLUMNS}, owner_id FROM datasets
 WHERE id = %(id)s AND (%(owner_id)s::uuid IS NULL OR owner_id = %(owner_id)s::uuid)
"""

LIST = f"""
SELECT {_COLUMNS} FROM datasets
 WHERE %(owner_id)s::uuid IS NULL OR owner_id = %(owner_id)s::uuid
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s
"""

#: Scoped to the caller like every read: another user's dataset is looked up and not found
#: exactly as a missing one is, at the same cost.
FOR_JOB = """
SELECT content_hash, n_bars FROM datasets
 WHERE id = %(id)s AND (%(owner_id)s::uuid IS NULL OR owner_id = %(owner_id)s::uuid)
"""

DELETE = """
DELETE FROM datasets
 WHERE id = %(id)s AND (%(owner_id)s::uuid IS NULL OR owner_id = %(owner_id)s::uuid)
   AND NOT EXISTS (SELECT 1 FROM backtest_jobs WHERE dataset_id = %(id)s)
RETURNING id
"""


def _dataset(row: tuple[Any, ...]) -> Dataset:
    return Dataset(
        id=row[0],
        name=row[1],
        content_hash=row[2],
        n_bars=row[3],
        first_timestamp=row[4],
        last_timestamp=row[5],
        size_bytes=row[6],
        created_at=row[7],
    )


async def get_dataset(
    pool: AsyncConnectionPool[Any], dataset_id: uuid.UUID, owner_id: uuid.UUID | None
) -> Dataset | None:
    async with pool.connection() as conn:
        cur = await conn.execute(GET, {"id": dataset_id, "owner_id": owner_id})
        row = await cur.fetchone()
    return None if row is None else _dataset(row)


async def list_datasets(pool: AsyncConnectionPool[Any], owner_id: uuid.UUID | None, limit: int) -> list[Dataset]:
    async with pool.connection() as conn:
        cur = await conn.execute(LIST, {"owner_id": owner_id, "limit": limit})
        rows = await cur.fetchall()
    return [_dataset(row) for row in rows]


async def dataset_for_job(
    pool: AsyncConnectionPool[Any], dataset_id: uuid.UUID, owner_id: uuid.UUID | None
) -> tuple[str, int] | None:
    """The content hash and bar count of a dataset of ``owner_id`` (None: any owner)."""
    async with pool.connection() as conn:
        cur = await conn.execute(FOR_JOB, {"id": dataset_id, "owner_id": owner_id})
        row = await cur.fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


async def delete_dataset(pool: AsyncConnectionPool[Any], dataset_id: uuid.UUID, owner_id: uuid.UUID | None) -> bool:
    """Delete the dataset if no job uses it; False if some job does (it exists: the caller checked)."""
    try:
        async with pool.connection() as conn:
            cur = await conn.execute(DELETE, {"id": dataset_id, "owner_id": owner_id})
            return await cur.fetchone() is not None
    except psycopg.errors.ForeignKeyViolation:
        return False
