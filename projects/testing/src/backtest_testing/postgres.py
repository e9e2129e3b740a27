"""Real PostgreSQL servers and fresh, migrated databases for tests.

By default each test process starts its own embedded PostgreSQL (``pgserver``);
when ``TEST_DATABASE_URL`` is set, that server is used instead. Either way the
schema is migrated once into a template database per test process, and each
test gets its own copy (``CREATE DATABASE ... TEMPLATE``), dropped afterwards,
so tests and parallel test processes never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from backtest_migrations import runner
from backtest_shared.db.urls import psycopg_url
from backtest_shared.db.urls import with_database

TEST_DATABASE_URL_ENV = "TEST_DATABASE_URL"


class EmbeddedPostgres:
    """A pgserver-managed PostgreSQL owned by this process, which tests may stop and start."""

    def __init__(self, data_dir: Path) -> None:
        import pgserver  # type: ignore[attr-defined]

        self.data_dir = data_dir
        self._server = pgserver.get_server(  # type: ignore[attr-defined]
            str(data_dir), cleanup_mode="stop")

    @property
    def url(self) -> str:
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Stop the server (fast shutdown: clients are disconnected), keeping its data."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user)

    def start(self) -> None:
        """Start the server again on the same socket and data."""
        self._server.ensure_postgres_running()

    def cleanup(self) -> None:
        self._server.cleanup()


@contextmanager
def embedded_postgres() -> Iterator[EmbeddedPostgres]:
    # Unix socket paths are limited to ~100 bytes: keep the data directory short.
    with tempfile.TemporaryDirectory(prefix="btpg-", dir="/tmp") as tmp:
        server = EmbeddedPostgres(Path(tmp))
        try:
            yield server
        finally:
            server.cleanup()


@contextmanager
def postgres_server_url() -> Iterator[str]:
    """The admin URL of the server tests use: TEST_DATABASE_URL, else an embedded one."""
    configured = os.environ.get(TEST_DATABASE_URL_ENV, "").strip()
    if configured:
        yield psycopg_url(configured)
        return
    with embedded_postgres() as server:
        yield server.url


def _admin_execute(admin_url: str, sql: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def create_migrated_template(admin_url: str) -> str:
    """Create a database migrated to head; returns its name."""
    name = f"bt_tmpl_{os.getpid()}_{secrets.token_hex(4)}"
    _admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    runner.upgrade(with_database(admin_url, name))
    return name


@contextmanager
def fresh_database(admin_url: str, template: str | None = None) -> Iterator[str]:
    """A new database (a copy of ``template`` if given), dropped on exit; yields its URL."""
    name = f"bt_test_{os.getpid()}_{secrets.token_hex(6)}"
    suffix = f' TEMPLATE "{template}"' if template else ""
    _admin_execute(admin_url, f'CREATE DATABASE "{name}"{suffix}')
    try:
        yield with_database(admin_url, name)
    finally:
        _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_database(admin_url: str, name: str) -> None:
    _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_has_lz4(database_url: str) -> bool:
    """Whether the server was built with lz4 (the machine's PostgreSQL 15 is; the embedded pgserver is not)."""
    with psycopg.connect(psycopg_url(database_url)) as conn:
        try:
            conn.execute("CREATE TEMP TABLE lz4_probe (x text COMPRESSION lz4)")
        except psycopg.errors.FeatureNotSupported:
            return False
        conn.rollback()
    return True
