"""The services' expected schema revision is the newest migration.

The API and the workers check the database against ``EXPECTED_SCHEMA_REVISION``
without carrying Alembic; this keeps that constant and the migration scripts
from drifting apart.
"""

import psycopg

from backtest_migrations import runner
from backtest_shared.db.revision import CURRENT_REVISION_SQL
from backtest_shared.db.revision import EXPECTED_SCHEMA_REVISION
from backtest_testing.postgres import fresh_database


def test_the_expected_revision_is_the_alembic_head() -> None:
    assert runner.head_revision() == EXPECTED_SCHEMA_REVISION


def test_a_migrated_database_reports_the_expected_revision(postgres_admin_url: str) -> None:
    with fresh_database(postgres_admin_url) as url:
        runner.upgrade(url)
        with psycopg.connect(url) as conn:
            row = conn.execute(CURRENT_REVISION_SQL).fetchone()
    assert row == (EXPECTED_SCHEMA_REVISION,)
