"""An embedded PostgreSQL (pgserver) whose data lives in a local folder and survives restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from backtest_shared.db.urls import with_database

DATABASE = "backtest"


class LocalPostgres:
    def __init__(self, data_dir: Path) -> None:
        import pgserver  # type: ignore[attr-defined]

        data_dir.mkdir(parents=True, exist_ok=True)
        self._server: Any = pgserver.get_server(str(data_dir), cleanup_mode="stop")  # type: ignore[attr-defined]

    @property
    def admin_url(self) -> str:
        return str(self._server.get_uri())

    def database_url(self) -> str:
        """The platform's database, created on first use."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return with_database(self.admin_url, DATABASE)

    def stop(self) -> None:
        self._server.cleanup()
