"""Idempotency records: reserve a key, store the first response, read it back."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

#: A reservation this old belongs to a request that died (its process crashed, or
#: the database went away before the answer could be stored): every submit ends
#: well within it, so a retry after a failover waits at most this long for its key.
ABANDONED_AFTER_SECONDS = 60

#: status_code 0 marks a request still being processed. An abandoned reservation
#: is taken over after ``ABANDONED_AFTER_SECONDS``, any record after the
#: retention period (``ttl`` seconds): the key is then new again.
RESERVE = """
INSERT INTO idempotency_records (user_id, key, request_hash, status_code, response_body)
VALUES (%(user_id)s, %(key)s, %(request_hash)s, 0, '')
ON CONFLICT (user_id, key) DO UPDATE
   SET request_hash = EXCLUDED.request_hash, status_code = 0, response_body = '', headers = '{}'::jsonb,
       created_at = now()
 WHERE (idempotency_records.status_code = 0
        AND idempotency_records.created_at < now() - %(abandoned_after)s * interval '1 second')
    OR idempotency_records.created_at < now() - %(ttl)s * interval '1 second'
RETURNING 1
"""

#: Delete up to ``limit`` records older than the retention period (oldest first,
#: through the created_at index).
PURGE = """
DELETE FROM idempotency_records
 WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_records
                         WHERE created_at < now() - %(ttl)s * interval '1 second'
                         ORDER BY created_at
                         LIMIT %(limit)s))
"""

GET = """
SELECT request_hash, status_code, response_body, headers FROM idempotency_records
 WHERE user_id = %(user_id)s AND key = %(key)s
"""

COMPLETE = """
UPDATE idempotency_records
   SET status_code = %(status_code)s, response_body = %(body)s, headers = %(headers)s::jsonb
 WHERE user_id = %(user_id)s AND key = %(key)s
"""

RELEASE = "DELETE FROM idempotency_records WHERE user_id = %(user_id)s AND key = %(key)s AND status_code = 0"


class StoredResponse(msgspec.Struct, frozen=True):
    request_hash: str
    status_code: int
    body: bytes
    headers: dict[str, str]


async def reserve(
    pool: AsyncConnectionPool[Any], user_id: uuid.UUID, key: str, request_hash: str, ttl_seconds: float
) -> bool:
    """Claim the key for this request; False when a live record already holds it."""
    async with pool.connection() as conn:
        params = {
            "user_id": user_id,
            "key": key,
            "request_hash": request_hash,
            "ttl": ttl_seconds,
            "abandoned_after": ABANDONED_AFTER_SECONDS,
        }
        cur = await conn.execute(RESERVE, params)
        return await cur.fetchone() is not None


async def purge_expired(pool: AsyncConnectionPool[Any], ttl_seconds: float, batch: int = 10_000) -> int:
    """Delete records older than the retention period, a batch per statement; returns how many."""
    deleted = 0
    while True:
        async with pool.connection() as conn:
            cur = await conn.execute(PURGE, {"ttl": ttl_seconds, "limit": batch})
            deleted += cur.rowcount
        if cur.rowcount < batch:
            return deleted


async def get(pool: AsyncConnectionPool[Any], user_id: uuid.UUID, key: str) -> StoredResponse | None:
    async with pool.connection() as conn:
        cur = await conn.execute(GET, {"user_id": user_id, "key": key})
        row = await cur.fetchone()
    if row is None:
        return None
    return StoredResponse(request_hash=row[0], status_code=row[1], body=bytes(row[2]), headers=dict(row[3]))


async def complete(
    pool: AsyncConnectionPool[Any],
    user_id: uuid.UUID,
    key: str,
    status_code: int,
    body: bytes,
    headers: dict[str, str],
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            COMPLETE,
            {
                "user_id": user_id,
                "key": key,
                "status_code": status_code,
                "body": body,
                "headers": msgspec.json.encode(headers).decode(),
            },
        )


async def release(pool: AsyncConnectionPool[Any], user_id: uuid.UUID, key: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(RELEASE, {"user_id": user_id, "key": key})
