"""Migrations follow a failover: a libpq multi-host URL reaches the writable server.

Operators list every database host in one URL with ``target_session_attrs=read-write``
(infra/README.md); the migrations PEX must accept that URL as the API and workers do.
"""

from __future__ import annotations

from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

from backtest_migrations import runner
from backtest_shared.db.urls import psycopg_url
from backtest_testing.postgres import fresh_database


def _multihost(url: str) -> str:
    """The same database behind two hosts, the first of which refuses connections."""
    info = conninfo_to_dict(psycopg_url(url))
    host = str(info.get("host") or "127.0.0.1")
    port = str(info.get("port") or "5432")
    user = quote(str(info.get("user") or "postgres"), safe="")
    password = f":{quote(str(info['password']), safe='')}" if info.get("password") else ""
    # Port 1 on loopback refuses at once; a socket directory is written percent-encoded.
    hosts = f"127.0.0.1:1,{quote(host, safe='')}:{port}"
    return f"postgresql://{user}{password}@{hosts}/{info['dbname']}?target_session_attrs=read-write"


def test_upgrade_and_current_through_a_multihost_url(postgres_admin_url: str) -> None:
    with fresh_database(postgres_admin_url) as url:
        multihost = _multihost(url)
        runner.upgrade(multihost)
        assert runner.current_revision(multihost) == runner.head_revision()
        assert runner.current_revision(url) == runner.head_revision()
