import psycopg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy import pool

from backtest_migrations import runner
from backtest_migrations.cli import main as cli_main
from backtest_shared.db.models import Base
from backtest_shared.db.urls import sqlalchemy_url
from backtest_testing.postgres import fresh_database
from backtest_testing.postgres import server_has_lz4


def _schema_differences(url: str) -> list:
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()


def test_migrations_produce_exactly_the_declared_schema(postgres_admin_url: str) -> None:
    with fresh_database(postgres_admin_url) as url:
        runner.upgrade(url)

        assert _schema_differences(url) == []
        assert runner.current_revision(url) == runner.head_revision()


def test_migrations_create_the_lease_token_sequence(postgres_admin_url: str) -> None:
    with fresh_database(postgres_admin_url) as url:
        runner.upgrade(url)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT nextval('backtest_jobs_lease_token_seq')").fetchone() == (1,)


def test_downgrade_to_base_leaves_an_empty_database(postgres_admin_url: str) -> None:
    with fresh_database(postgres_admin_url) as url:
        runner.upgrade(url)
        runner.downgrade(url, "base")

        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            ).fetchall()
            sequences = conn.execute("SELECT relname FROM pg_class WHERE relkind = 'S'").fetchall()
        assert tables == []
        assert sequences == []
        assert runner.current_revision(url) is None


def test_cli_upgrades_and_reports_the_current_revision(postgres_admin_url: str, capsys) -> None:
    with fresh_database(postgres_admin_url) as url:
        assert cli_main(["--database-url", url, "upgrade"]) == 0
        assert cli_main(["--database-url", url, "current"]) == 0

    assert f"{runner.head_revision()} (head)" in capsys.readouterr().out


def test_migrations_tune_storage_that_the_models_cannot_declare(postgres_admin_url: str) -> None:
    with fresh_database(postgres_admin_url) as url:
        runner.upgrade(url)
        with psycopg.connect(url) as conn:
            fillfactor = conn.execute("SELECT reloptions FROM pg_class WHERE relname = 'backtest_jobs'").fetchone()
            storage = conn.execute(
                """SELECT attname, attstorage, attcompression FROM pg_attribute
                    WHERE attrelid = 'job_results'::regclass AND attname IN ('equity_curve', 'trades')
                    ORDER BY attname"""
            ).fetchall()

    assert fillfactor == (["fillfactor=50"],)
    # Results: lz4-compressed where the server has lz4 (0009), else stored uncompressed (0001).
    expected = ("x", "l") if server_has_lz4(postgres_admin_url) else ("e", "")
    assert storage == [("equity_curve", *expected), ("trades", *expected)]
