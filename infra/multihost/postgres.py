"""PostgreSQL 15 for the multi-host test: a primary on db1 and a streaming standby on db2.

The clusters are the test's own (data directories under its run directory), run
by the PostgreSQL 15 binaries of the Debian package; the machine's own cluster is
never touched. Replication is synchronous by default (``synchronous_standby_names``
on the primary names db2, ``synchronous_commit = on``): a commit, and so a 202 of
the API, returns only once db2 has the WAL on disk, so promoting db2 after db1
dies loses no acknowledged job. infra/README.md, "Failover", says what the
asynchronous alternative can lose.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from hosts import address
from hosts import as_user
from hosts import in_host
from hosts import run

BIN = Path("/usr/lib/postgresql/15/bin")
PORT = 5432

COMMON_CONF = """
listen_addresses = '{listen}'
port = {port}
unix_socket_directories = '{sockets}'
max_connections = 300
shared_buffers = 128MB
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
hot_standby = on
wal_keep_size = 256MB
synchronous_commit = on
synchronous_standby_names = '{sync_names}'
primary_slot_name = '{slot}'
fsync = on
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] {host} '
"""

HBA = """
local all all trust
host all all 127.0.0.1/32 trust
host all all {subnet}/24 trust
host replication all {subnet}/24 trust
"""


def _pg(host: str, argv: list[str], timeout: float = 120) -> str:
    return run(in_host(host, as_user("postgres", argv)), timeout=timeout)


class Cluster:
    """One PostgreSQL server of the test: its data directory, log and host."""

    def __init__(self, host: str, root: Path) -> None:
        self.host = host
        self.data = root / host / "pgdata"
        self.sockets = root / host / "sockets"
        self.log = root / "logs" / f"{host}-postgresql.log"

    def _prepare_dirs(self) -> None:
        for path in (self.data.parent, self.sockets):
            path.mkdir(parents=True, exist_ok=True)
            shutil.chown(path, "postgres", "postgres")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        shutil.chown(self.log, "postgres", "postgres")

    def _configure(self, *, sync_names: str, slot: str) -> None:
        conf = COMMON_CONF.format(
            listen=address(self.host), port=PORT, sockets=self.sockets, sync_names=sync_names, slot=slot,
            host=self.host,
        )
        (self.data / "conf.d").mkdir(exist_ok=True)
        main = self.data / "postgresql.conf"
        text = main.read_text()
        if "include_dir = 'conf.d'" not in text:
            main.write_text(text + "\ninclude_dir = 'conf.d'\n")
        (self.data / "conf.d" / "multihost.conf").write_text(conf)
        (self.data / "pg_hba.conf").write_text(HBA.format(subnet=address(self.host).rsplit(".", 1)[0] + ".0"))
        run(["chown", "-R", "postgres:postgres", str(self.data)])

    def init_primary(self) -> None:
        self._prepare_dirs()
        _pg(self.host, [str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--locale=C.UTF-8"])
        # Asynchronous until the standby exists (a commit would wait for it forever):
        # require_standby() turns synchronous replication on once db2 streams.
        self._configure(sync_names="", slot="")

    def require_standby(self, standby_name: str) -> None:
        """Commits wait for ``standby_name`` to flush their WAL from now on.

        FIRST 1 (db2): one standby, which must confirm. With more standbys,
        ANY 1 (a, b) keeps the primary writable while one of them is away.
        """
        self._configure(sync_names=f"FIRST 1 ({standby_name})", slot="")
        self.psql("SELECT pg_reload_conf()")

    def init_standby(self, primary: Cluster) -> None:
        self._prepare_dirs()
        _pg(primary.host, [str(BIN / "psql"), "-h", str(primary.sockets), "-U", "postgres", "-qc",
                           f"SELECT pg_create_physical_replication_slot('{self.host}')"])
        _pg(self.host, [str(BIN / "pg_basebackup"), "-h", f"{primary.host}.internal", "-p", str(PORT), "-U",
                        "postgres", "-D", str(self.data), "-X", "stream", "-R", "-c", "fast"], timeout=300)
        # Promoted, this server has no standby of its own: it must not wait for one.
        self._configure(sync_names="", slot=self.host)
        auto = self.data / "postgresql.auto.conf"
        auto.write_text(
            auto.read_text()
            + f"primary_conninfo = 'host={primary.host}.internal port={PORT} user=postgres "
            f"application_name={self.host}'\n"
        )

    def start(self) -> None:
        _pg(self.host, [str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"])

    def stop(self, mode: str) -> None:
        _pg(self.host, [str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def promote(self) -> None:
        _pg(self.host, [str(BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "promote"])

    def psql(self, sql: str, database: str = "postgres", timeout: float = 120) -> str:
        """Run SQL on this server through its socket; rows as unaligned text."""
        return _pg(self.host, [str(BIN / "psql"), "-h", str(self.sockets), "-U", "postgres", "-d", database,
                               "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], timeout=timeout)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def wait_streaming(self, standby: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.psql(f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{standby}'")
            if state.strip() == "sync":
                return
            time.sleep(0.5)
        raise RuntimeError(f"{standby} is not a synchronous standby of {self.host} after {timeout:.0f} s")
