"""API settings: an environment-backed dataclass with a cached getter.

Every field can be set with ``BACKTEST_<FIELD>`` (e.g. ``BACKTEST_RATE_LIMIT_PER_SECOND=50``);
``database_url`` reads ``BACKTEST_DATABASE_URL``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from backtest_shared.db.urls import database_url_from_env

ENV_PREFIX = "BACKTEST_"


@dataclass(frozen=True)
class Settings:
    database_url: str
    #: Connections per API process (the pool's bounds).
    pool_min_size: int = 2
    pool_max_size: int = 10
    #: Seconds a request waits for a database connection before answering 503 (the database is away).
    pool_timeout_seconds: float = 5.0
    #: Default cap on a user's pending jobs (``users.max_pending_jobs`` overrides it).
    max_pending_jobs: int = 100_000
    #: Largest bundle a request may create.
    max_bundle_size: int = 10_000
    #: Requests per second per API key, with bursts up to ``rate_limit_burst`` (per API process).
    rate_limit_per_second: float = 2_000.0
    rate_limit_burst: int = 4_000
    #: Seconds a client is told to wait when over the pending-jobs limit.
    pending_limit_retry_after: int = 10
    #: Largest request body (JSON) and largest dataset upload, in bytes.
    max_body_bytes: int = 2 * 1024 * 1024
    max_dataset_bytes: int = 64 * 1024 * 1024
    #: Longest ``?wait=`` of a long-poll, in seconds.
    max_wait_seconds: float = 60.0
    #: Seconds an Idempotency-Key's first answer is kept and replayed (then the key is new again).
    idempotency_ttl_seconds: float = 86_400.0
    #: Seconds an authenticated key stays cached in-process (revocation takes this long to apply).
    auth_cache_seconds: float = 10.0
    #: A worker whose heartbeat is older than this is reported dead.
    worker_dead_after_seconds: float = 60.0
    #: Interval between progress checks of a server-sent-events stream.
    events_interval_seconds: float = 0.5
    #: Default and largest page size of listings.
    page_size: int = 50
    max_page_size: int = 500

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _from_env(field: dataclasses.Field[Any], environ: dict[str, str]) -> Any:
    raw = environ.get(ENV_PREFIX + field.name.upper())
    if raw is None or raw.strip() == "":
        return dataclasses.MISSING
    kind = field.type if isinstance(field.type, str) else field.type.__name__
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw


def settings_from_env(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from ``BACKTEST_*`` variables; explicit ``overrides`` win."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Settings):
        if field.name == "database_url":
            continue
        value = _from_env(field, env)
        if value is not dataclasses.MISSING:
            values[field.name] = value
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "database_url" not in values:
        values["database_url"] = database_url_from_env()
    return Settings(**values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
