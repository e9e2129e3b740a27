"""One PostgreSQL server per test run, and a fresh migrated database per test.

Pants runs every test file in its own process, several at once. They all share
one server: the one ``TEST_DATABASE_URL`` names, else an embedded PostgreSQL
(``pgserver``) whose data directory sits at a fixed path outside the sandboxes,
started by whichever process comes first (under a file lock) and stopped by the
last one to leave. The schema is migrated once per server into a template
database named after a hash of the migration scripts; each test then gets its
own copy (``CREATE DATABASE ... TEMPLATE``), dropped afterwards. Every name a
process creates carries its host and pid, so concurrent runs never collide and a
killed process's leftovers are recognised and dropped by the next run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import psycopg

from backtest_migrations import runner
from backtest_shared.db.urls import psycopg_url
from backtest_shared.db.urls import with_database

TEST_DATABASE_URL_ENV = "TEST_DATABASE_URL"
#: Prefixes of the databases tests create; nothing else on a server is ever dropped.
TEMPLATE_PREFIX = "bt_tmpl_"
TEST_PREFIX = "bt_test_"
_BUILD_PREFIX = TEMPLATE_PREFIX + "build_"
#: A shared template's name: the prefix and a migrations fingerprint.
_SHARED_TEMPLATE = re.compile(TEMPLATE_PREFIX + "[0-9a-f]{16}")
#: Held (``pg_advisory_lock``) while a template is built or old ones are dropped.
_TEMPLATE_LOCK_KEY = 0x6274_746D_706C  # "bttmpl"
#: A template built from other migrations is dropped once unused for this long.
_STALE_TEMPLATE_SECONDS = 24 * 3600


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def _owner_tag() -> str:
    """``<host>_<pid>``: which process created a database, so its leftovers can be found."""
    return f"{_host_tag()}_{os.getpid()}"


class EmbeddedPostgres:
    """A pgserver-managed PostgreSQL, stopped when its last user process exits (``cleanup_mode="stop"``)."""

    def __init__(self, data_dir: Path) -> None:
        import pgserver  # type: ignore[attr-defined]

        self.data_dir = data_dir
        self._server = pgserver.get_server(str(data_dir), cleanup_mode="stop")  # type: ignore[attr-defined]

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
    """A private embedded server in a temporary directory, for tests that stop or break their server."""
    # Unix socket paths are limited to ~100 bytes: keep the data directory short.
    with tempfile.TemporaryDirectory(prefix="btpg-", dir="/tmp") as tmp:
        server = EmbeddedPostgres(Path(tmp))
        try:
            yield server
        finally:
            server.cleanup()


def shared_embedded_dir() -> Path:
    """The data directory of the embedded server every test process of this user shares.

    Outside any sandbox and short (the Unix socket lives inside it); keyed by the
    pgserver version, whose PostgreSQL cannot read another major version's data.
    """
    return Path("/tmp") / f"backtest-test-pg-{os.getuid()}-{version('pgserver')}"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_users(data_dir: Path) -> None:
    """Drop the processes that died without saying goodbye from pgserver's list of the server's users.

    pgserver stops the server when the last process on that list exits; a test
    process killed (say, by a timeout) stays on it for ever, and then so would
    the server.
    """
    from pgserver.postgres_server import PostgresServer  # type: ignore[import-untyped]

    handles = data_dir / ".handle_pids.json"
    with PostgresServer._lock:
        if handles.exists():
            pids = json.loads(handles.read_text())
            alive = [pid for pid in pids if _pid_alive(pid)]
            if alive != pids:
                handles.write_text(json.dumps(alive))


_shared_embedded: EmbeddedPostgres | None = None


def shared_embedded_url() -> str:
    """The admin URL of the shared embedded server, started (or joined) under a file lock."""
    global _shared_embedded
    if _shared_embedded is None:
        data_dir = shared_embedded_dir()
        with _file_lock(data_dir.with_name(data_dir.name + ".lock")):
            _forget_dead_users(data_dir)
            _shared_embedded = EmbeddedPostgres(data_dir)
    return _shared_embedded.url


@contextmanager
def postgres_server_url() -> Iterator[str]:
    """The admin URL of the server tests use: TEST_DATABASE_URL, else the shared embedded one."""
    configured = os.environ.get(TEST_DATABASE_URL_ENV, "").strip()
    yield psycopg_url(configured) if configured else shared_embedded_url()


def _admin_execute(admin_url: str, sql: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def migrations_fingerprint() -> str:
    """A hash of every migration script: a template built from other scripts is another template."""
    digest = hashlib.sha256()
    root = Path(runner.SCRIPT_LOCATION)
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _databases(conn: psycopg.Connection[tuple[object, ...]], prefix: str) -> list[tuple[str, str | None]]:
    rows = conn.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database WHERE starts_with(datname, %s)",
        (prefix,),
    ).fetchall()
    return [(str(name), None if comment is None else str(comment)) for name, comment in rows]


def _process_is_gone(owner: str) -> bool:
    host, _, pid = owner.partition("_")
    if host != _host_tag() or not pid.isdigit():
        return False  # another machine's: it alone knows whether the process lives
    return not _pid_alive(int(pid))


def drop_leftovers(admin_url: str) -> list[str]:
    """Drop test databases and half-built templates whose creating process is gone; returns their names."""
    dropped = []
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for prefix in (TEST_PREFIX, _BUILD_PREFIX):
            for name, _ in _databases(conn, prefix):
                # <prefix><host>_<pid>_<random>
                owner = name.removeprefix(prefix).rsplit("_", 1)[0]
                if not _process_is_gone(owner):
                    continue
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
                dropped.append(name)
    return dropped


def shared_template(admin_url: str) -> str:
    """The server's database migrated to head by the current scripts, built once and then reused.

    Built under another name and renamed when complete, so a half-migrated
    template is never copied. Nothing may connect to a template while it is
    copied, so tests only ever connect to their copies.
    """
    name = f"{TEMPLATE_PREFIX}{migrations_fingerprint()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_TEMPLATE_LOCK_KEY,))
        templates = dict(_databases(conn, TEMPLATE_PREFIX))
        if name not in templates:
            building = f"{_BUILD_PREFIX}{_owner_tag()}_{secrets.token_hex(3)}"
            conn.execute(f'CREATE DATABASE "{building}"')  # type: ignore[arg-type]
            try:
                runner.upgrade(with_database(admin_url, building))
                conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')  # type: ignore[arg-type]
            except BaseException:
                conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')  # type: ignore[arg-type]
                raise
        # The comment records when the template was last chosen, so old ones can go.
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS 'used {int(time.time())}'")  # type: ignore[arg-type]
        for other, comment in templates.items():
            used = int(comment.removeprefix("used ")) if comment and comment.startswith("used ") else 0
            stale = time.time() - used > _STALE_TEMPLATE_SECONDS
            if other != name and _SHARED_TEMPLATE.fullmatch(other) and stale:
                conn.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')  # type: ignore[arg-type]
    return name


def create_migrated_template(admin_url: str) -> str:
    """A new private database migrated to head, for callers that manage its lifetime; returns its name."""
    name = f"{_BUILD_PREFIX}{_owner_tag()}_{secrets.token_hex(3)}"
    _admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    runner.upgrade(with_database(admin_url, name))
    return name


@contextmanager
def fresh_database(admin_url: str, template: str | None = None) -> Iterator[str]:
    """A new database (a copy of ``template`` if given), dropped on exit; yields its URL."""
    name = f"{TEST_PREFIX}{_owner_tag()}_{secrets.token_hex(4)}"
    suffix = f' TEMPLATE "{template}"' if template else ""
    _admin_execute(admin_url, f'CREATE DATABASE "{name}"{suffix}')
    try:
        yield with_database(admin_url, name)
    finally:
        drop_database(admin_url, name)


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
