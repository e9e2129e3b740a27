"""The demo user (its key kept in the data folder, so a second run prints the same one) and dataset."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg

from backtest_api.accounts import repository
from backtest_api.core.auth import hash_api_key
from backtest_shared.datasets.store import insert_dataset
from backtest_shared.db.pool import open_pool
from backtest_shared.engine import synthetic_ohlcv

DEMO_USER = "demo"
DEMO_DATASET = "demo-synthetic-hourly-5000"
KEY_FILE = "demo-api-key"


def _key_is_active(database_url: str, key: str) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL", (hash_api_key(key),)
        ).fetchone()
    return row is not None


def ensure_demo_key(database_url: str, data_dir: Path) -> str:
    """The demo user's API key: the stored one if still valid, else a new one (saved, mode 0600)."""
    key_file = data_dir / KEY_FILE
    if key_file.exists():
        key = key_file.read_text().strip()
        if key and _key_is_active(database_url, key):
            return key
    if repository.find_user(database_url, DEMO_USER) is None:
        repository.create_user(database_url, DEMO_USER, role="admin")
    key = repository.issue_key(database_url, DEMO_USER)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


async def _ensure_dataset(database_url: str) -> uuid.UUID:
    pool = await open_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT d.id FROM datasets d JOIN users u ON u.id = d.owner_id WHERE u.name = %s AND d.name = %s",
                (DEMO_USER, DEMO_DATASET),
            )
            row = await cur.fetchone()
        if row is not None:
            return uuid.UUID(str(row[0]))
        owner = repository.find_user(database_url, DEMO_USER)
        assert owner is not None
        stored = await insert_dataset(pool, owner, DEMO_DATASET, synthetic_ohlcv(5000, seed=42))
        return stored.id
    finally:
        await pool.close()


def ensure_demo_dataset(database_url: str) -> uuid.UUID:
    return asyncio.run(_ensure_dataset(database_url))
