"""Users and API keys in SQL: the authentication lookup (async) and admin operations (sync, for the CLI)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from backtest_api.accounts.keys import display_prefix
from backtest_api.accounts.keys import new_api_key
from backtest_api.core.auth import KEY_REVOKED_CHANNEL
from backtest_api.core.auth import hash_api_key
from backtest_api.core.principal import Principal
from backtest_shared.accounts.store import CREATE_USER
from backtest_shared.accounts.store import new_user
from backtest_shared.db.urls import psycopg_url

FIND_KEY_OWNER = """
SELECT u.id, u.name, u.role, u.max_pending_jobs
  FROM api_keys k
  JOIN users u ON u.id = k.user_id
 WHERE k.key_hash = %(key_hash)s AND k.revoked_at IS NULL
"""

FIND_USER = "SELECT id FROM users WHERE name = %(name)s"

INSERT_KEY = """
INSERT INTO api_keys (id, user_id, key_hash, prefix)
VALUES (%(id)s, %(user_id)s, %(key_hash)s, %(prefix)s)
"""

REVOKE_KEY = f"""
WITH revoked AS (
    UPDATE api_keys SET revoked_at = now()
     WHERE revoked_at IS NULL AND (prefix = %(key)s OR key_hash = %(key_hash)s OR id::text = %(key)s)
    RETURNING id, prefix, key_hash
)
SELECT id, prefix, pg_notify('{KEY_REVOKED_CHANNEL}', key_hash) FROM revoked
"""


class UnknownUserError(LookupError):
    pass


async def find_principal(pool: AsyncConnectionPool[Any], key_hash: str) -> Principal | None:
    async with pool.connection() as conn:
        cur = await conn.execute(FIND_KEY_OWNER, {"key_hash": key_hash})
        row = await cur.fetchone()
    if row is None:
        return None
    return Principal(id=row[0], name=row[1], role=row[2], max_pending_jobs=row[3], key_hash=key_hash)


def create_user(
    database_url: str,
    name: str,
    *,
    role: str = "user",
    max_running_jobs: int | None = None,
    max_pending_jobs: int | None = None,
) -> uuid.UUID:
    user = new_user(name, role=role, max_running_jobs=max_running_jobs, max_pending_jobs=max_pending_jobs)
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        conn.execute(CREATE_USER, user)
    user_id: uuid.UUID = user["id"]
    return user_id


def find_user(database_url: str, name: str) -> uuid.UUID | None:
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        row = conn.execute(FIND_USER, {"name": name}).fetchone()
    return None if row is None else uuid.UUID(str(row[0]))


def issue_key(database_url: str, user_name: str) -> str:
    """Create a key for a user; returns the secret (shown once, never stored)."""
    user_id = find_user(database_url, user_name)
    if user_id is None:
        raise UnknownUserError(user_name)
    key = new_api_key()
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        conn.execute(
            INSERT_KEY,
            {"id": uuid.uuid4(), "user_id": user_id, "key_hash": hash_api_key(key), "prefix": display_prefix(key)},
        )
    return key


def revoke_key(database_url: str, key_or_prefix: str) -> list[str]:
    """Revoke keys named by the full secret, its display prefix or the key id; returns revoked prefixes."""
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        rows = conn.execute(REVOKE_KEY, {"key": key_or_prefix, "key_hash": hash_api_key(key_or_prefix)}).fetchall()
    return [str(row[1]) for row in rows]
