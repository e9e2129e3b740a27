"""One database URL, two dialects of it.

Operators configure a plain ``postgresql://`` URL; psycopg takes it as is, while
SQLAlchemy and Alembic need the driver named (``postgresql+psycopg://``).
"""

from __future__ import annotations

import os
from urllib.parse import unquote
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

DATABASE_URL_ENV = "BACKTEST_DATABASE_URL"


class MissingDatabaseURLError(RuntimeError):
    """Raised when no database URL is configured."""


def database_url_from_env() -> str:
    """The configured database URL, with a clear message when it is missing."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        raise MissingDatabaseURLError(
            f"set {DATABASE_URL_ENV} to a PostgreSQL URL, e.g. postgresql://user@host:5432/db"
        )
    return url


def psycopg_url(url: str) -> str:
    """The URL in the form libpq and psycopg accept."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def sqlalchemy_url(url: str) -> str:
    """The URL with the psycopg 3 driver named, for SQLAlchemy and Alembic.

    A libpq multi-host URL (``postgresql://u@db1:5432,db2:5432/x?target_session_attrs=read-write``,
    how clients follow a failover) keeps its meaning: SQLAlchemy cannot parse several hosts in
    the authority, so they move to its ``host=name:port`` query parameters, which its psycopg
    dialect hands back to libpq as the same host and port lists.
    """
    parts = urlsplit(psycopg_url(url))
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    if "," in hostlist:
        # A socket directory arrives percent-encoded in the authority; the query carries it decoded.
        hosts = [("host", unquote(host)) for host in hostlist.split(",")]
        query = urlencode(hosts, safe=":/") + ("&" + parts.query if parts.query else "")
        netloc = userinfo + "@" if userinfo else ""
        parts = parts._replace(netloc=netloc, query=query)
    return "postgresql+psycopg://" + urlunsplit(parts)[len("postgresql://") :]


def with_database(url: str, database: str) -> str:
    """The same server URL naming another database (query options kept)."""
    parts = urlsplit(psycopg_url(url))
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))
