"""An embedded PostgreSQL (pgserver) whose data lives in a local folder and survives restarts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import psycopg

from backtest_shared.db.urls import with_database

DATABASE = "backtest"


#: pgserver's list of the processes holding the server; it stops the server when the last one lets go.
HANDLES_FILE = ".handle_pids.json"


def forget_dead_handles(data_dir: Path) -> None:
    """Drop processes that no longer exist from pgserver's handle list.

    pgserver stops the server only when the last handle is released, and never
    forgets one whose process died: after one run killed hard, every later run
    left PostgreSQL running when it stopped.
    """
    handles = data_dir / HANDLES_FILE
    if not handles.exists():
        return
    pids = json.loads(handles.read_text() or "[]")
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


class LocalPostgres:
    def __init__(self, data_dir: Path) -> None:
        import pgserver  # type: ignore[attr-defined]

        data_dir.mkdir(parents=True, exist_ok=True)
        forget_dead_handles(data_dir)
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
