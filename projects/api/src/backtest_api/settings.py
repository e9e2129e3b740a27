"""The API's configuration: every setting is a ``BACKTEST_API_*`` variable and a ``serve`` flag.

Declared once (``backtest_shared.settings``): the defaults below are the only
ones, and ``--help`` and docs/api.md's tables (checked by a test) derive from
them. ``Settings`` configures each API process, which reads it from the
environment (``serve`` passes its flags on to the processes it starts that
way); ``ServeSettings`` says how ``serve`` runs them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated
from typing import Any

from backtest_shared.db.urls import DATABASE_URL_ENV
from backtest_shared.settings import REQUIRED
from backtest_shared.settings import Setting
from backtest_shared.settings import SettingsSchema

_MIB = 1024 * 1024

ENV_PREFIX = "BACKTEST_API_"


@dataclass(frozen=True)
class Settings:
    database_url: Annotated[
        str,
        # The admin CLI's top-level --database-url sets it for every command.
        Setting("PostgreSQL URL", env=DATABASE_URL_ENV, default_text=REQUIRED, flag=False),
    ]
    pool_min_size: Annotated[int, Setting("fewest database connections an API process keeps open")] = 2
    pool_max_size: Annotated[int, Setting("most database connections per API process (plus one LISTEN connection)")] = (
        10
    )
    pool_timeout_seconds: Annotated[
        float, Setting("seconds a request waits for a database connection before answering 503")
    ] = 5.0
    max_pending_jobs: Annotated[
        int, Setting("a user's cap on waiting jobs (`users.max_pending_jobs` overrides it)")
    ] = 100_000
    max_bundle_size: Annotated[int, Setting("largest bundle (sweep) one request may create")] = 10_000
    rate_limit_per_second: Annotated[
        float, Setting("requests per second per API key, per API process (token bucket)")
    ] = 2_000.0
    rate_limit_burst: Annotated[int, Setting("burst allowed above the request rate")] = 4_000
    pending_limit_retry_after: Annotated[
        int, Setting("seconds a client over the pending-jobs cap is told to wait (`Retry-After`)")
    ] = 10
    max_body_bytes: Annotated[int, Setting("largest JSON request body, in bytes")] = 2 * _MIB
    max_dataset_bytes: Annotated[int, Setting("largest dataset upload, in bytes")] = 64 * _MIB
    max_wait_seconds: Annotated[float, Setting("longest `?wait=` of a long-poll, in seconds")] = 60.0
    idempotency_ttl_seconds: Annotated[
        float, Setting("seconds an Idempotency-Key's first answer is kept and replayed")
    ] = 86_400.0
    auth_cache_seconds: Annotated[
        float, Setting("seconds an authenticated key stays cached in-process (revocation takes this long)")
    ] = 10.0
    worker_dead_after_seconds: Annotated[
        float, Setting("a compute worker silent this many seconds is reported dead")
    ] = 60.0
    events_interval_seconds: Annotated[
        float, Setting("seconds between progress checks of a server-sent-events stream")
    ] = 0.5

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ServeSettings:
    """How ``serve`` runs the API processes."""

    host: Annotated[str, Setting("address to listen on")] = "127.0.0.1"
    port: Annotated[int, Setting("port to listen on")] = 8000
    processes: Annotated[int, Setting("API processes (uvicorn workers) sharing the port")] = 1
    access_log: Annotated[bool, Setting("log every request")] = False

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError("port must be between 1 and 65535")
        if self.processes < 1:
            raise ValueError("processes must be at least 1")


#: Until this release every API setting was read from ``BACKTEST_<NAME>``; still read, with a warning.
SCHEMA = SettingsSchema(
    Settings,
    env_prefix=ENV_PREFIX,
    renamed={f.name: "BACKTEST_" + f.name.upper() for f in dataclasses.fields(Settings) if f.name != "database_url"},
)
SERVE_SCHEMA = SettingsSchema(
    ServeSettings,
    env_prefix=ENV_PREFIX,
    renamed={"host": "BACKTEST_HOST", "port": "BACKTEST_PORT", "processes": "BACKTEST_WORKERS"},
)


def settings_from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from ``BACKTEST_API_*`` (and ``BACKTEST_DATABASE_URL``); explicit ``overrides`` win."""
    return SCHEMA.load(None, os.environ if environ is None else environ, **overrides)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
