"""The database schema revision this release of the services is written for.

The services compare it with the ``alembic_version`` table instead of reading
the migration scripts, so that they carry no migration machinery (Alembic,
SQLAlchemy, Mako). A migrations test asserts that it equals the Alembic head:
adding a migration means raising it in the same change.
"""

from __future__ import annotations

EXPECTED_SCHEMA_REVISION = "0011"

#: The one row Alembic keeps: the revision the database is at.
CURRENT_REVISION_SQL = "SELECT version_num FROM alembic_version"
