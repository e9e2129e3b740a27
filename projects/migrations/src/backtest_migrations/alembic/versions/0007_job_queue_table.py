"""the pending and running sets move to their own narrow table, job_queue

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Every claim and every completion used to be a non-HOT update of backtest_jobs:
its partial indexes on status (claim order, owner's pending jobs, owner's running
jobs, succeeded jobs by hash) made PostgreSQL write four to five index entries
per job and then clean them up again, the bulk of the queue's database work.
Those sets now live in job_queue, which a job enters at enqueue and leaves
when it reaches a final state; backtest_jobs keeps indexes only on columns that
never change, so claims, heartbeats and completions are HOT updates there, and
its fillfactor drops to 50 so that a batch's new row versions fit on their pages.
Identical-request reuse now finds results through job_results' primary key,
which the config hash leads. The jobs' foreign keys to users and bundles become
triggers (a bulk enqueue paid their per-row checks for every job).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


#: Migration 0002's trigger function, deleting results with their jobs, matched on ``match``.
_RESULTS_TRIGGER = """
CREATE OR REPLACE FUNCTION backtest_jobs_delete_results() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_results r USING deleted_jobs d WHERE {match};
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "job_queue",
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("owner_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("fair_key", sa.BigInteger(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("claimed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.execute(
        """
        INSERT INTO job_queue (job_id, owner_id, priority, fair_key, run_after, claimed)
        SELECT id, owner_id, priority, fair_key, run_after, status = 'running'
          FROM backtest_jobs
         WHERE status IN ('pending', 'running')
        """
    )
    op.create_index(
        "job_queue_claim_idx",
        "job_queue",
        [sa.text("priority DESC"), "fair_key"],
        postgresql_where=sa.text("NOT claimed"),
    )
    op.create_index(
        "job_queue_pending_idx",
        "job_queue",
        ["owner_id", "fair_key"],
        unique=True,
        postgresql_where=sa.text("NOT claimed"),
    )
    op.create_index(
        "job_queue_claimed_idx",
        "job_queue",
        ["owner_id", "fair_key"],
        unique=True,
        postgresql_where=sa.text("claimed"),
    )
    # Before each job row is deleted, so that its queue row is locked first, as
    # every statement about a pending job does (see queue_sql, "Lock order").
    op.execute(
        """
        CREATE FUNCTION backtest_jobs_delete_queue_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.status = 'pending' THEN
                DELETE FROM job_queue
                 WHERE NOT claimed AND owner_id = OLD.owner_id AND fair_key = OLD.fair_key;
            ELSIF OLD.status = 'running' THEN
                DELETE FROM job_queue
                 WHERE claimed AND owner_id = OLD.owner_id AND fair_key = OLD.fair_key;
            END IF;
            RETURN OLD;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER backtest_jobs_delete_queue_row
        BEFORE DELETE ON backtest_jobs
        FOR EACH ROW EXECUTE FUNCTION backtest_jobs_delete_queue_row()
        """
    )
    op.drop_index("backtest_jobs_claim_idx", table_name="backtest_jobs")
    op.drop_index("backtest_jobs_owner_pending_idx", table_name="backtest_jobs")
    op.drop_index("backtest_jobs_owner_running_idx", table_name="backtest_jobs")
    op.drop_index("backtest_jobs_config_hash_done_idx", table_name="backtest_jobs")
    # Identical-request reuse finds a stored result by the job's config hash,
    # which now leads the results' primary key (an index on the jobs' hash could
    # not leave out the jobs still waiting without naming their status).
    op.add_column("job_results", sa.Column("config_hash", sa.Text(), nullable=True))
    op.execute("UPDATE job_results r SET config_hash = j.config_hash FROM backtest_jobs j WHERE j.id = r.job_id")
    op.execute("DELETE FROM job_results WHERE config_hash IS NULL")  # none: results go with their jobs
    op.alter_column("job_results", "config_hash", nullable=False)
    op.drop_constraint("job_results_pkey", "job_results", type_="primary")
    op.create_primary_key("job_results_pkey", "job_results", ["config_hash", "job_id"])
    op.execute(_RESULTS_TRIGGER.format(match="r.config_hash = d.config_hash AND r.job_id = d.id"))
    # A bulk enqueue paid the per-row foreign-key checks against users and
    # bundles for every job; the enqueue guarantees both rows (it locks and
    # updates the owner's; a bundle's is inserted in the same transaction).
    # Their cascades become triggers, BEFORE each user or bundle row goes so that
    # the jobs are gone before the cascade to datasets (which jobs RESTRICT).
    op.drop_constraint("backtest_jobs_owner_id_fkey", "backtest_jobs", type_="foreignkey")
    op.drop_constraint("backtest_jobs_bundle_id_fkey", "backtest_jobs", type_="foreignkey")
    for table, column in (("users", "owner_id"), ("bundles", "bundle_id")):
        op.execute(
            f"""
            CREATE FUNCTION {table}_delete_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM backtest_jobs WHERE {column} = OLD.id;
                RETURN OLD;
            END
            $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_delete_jobs BEFORE DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_delete_jobs()"
        )
    # A claim or completion of a batch updates rows that sit together (a bundle's
    # jobs are inserted together); a HOT update needs room for its new version on
    # the same page, so half of each page is kept free for one statement to give
    # every row on it a new version. (Earlier versions are pruned in between.)
    op.execute("ALTER TABLE backtest_jobs SET (fillfactor = 50)")


def downgrade() -> None:
    for table in ("users", "bundles"):
        op.execute(f"DROP TRIGGER {table}_delete_jobs ON {table}")
        op.execute(f"DROP FUNCTION {table}_delete_jobs()")
    op.create_foreign_key(
        "backtest_jobs_bundle_id_fkey", "backtest_jobs", "bundles", ["bundle_id"], ["id"], ondelete="CASCADE"
    )
    op.create_foreign_key(
        "backtest_jobs_owner_id_fkey", "backtest_jobs", "users", ["owner_id"], ["id"], ondelete="CASCADE"
    )
    op.execute("ALTER TABLE backtest_jobs SET (fillfactor = 80)")
    op.execute(_RESULTS_TRIGGER.format(match="r.job_id = d.id"))
    op.drop_constraint("job_results_pkey", "job_results", type_="primary")
    op.create_primary_key("job_results_pkey", "job_results", ["job_id"])
    op.drop_column("job_results", "config_hash")
    op.create_index(
        "backtest_jobs_config_hash_done_idx",
        "backtest_jobs",
        ["config_hash"],
        postgresql_where=sa.text("status = 'succeeded'"),
    )
    op.create_index(
        "backtest_jobs_owner_running_idx",
        "backtest_jobs",
        ["owner_id"],
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "backtest_jobs_owner_pending_idx",
        "backtest_jobs",
        ["owner_id", "fair_key"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "backtest_jobs_claim_idx",
        "backtest_jobs",
        [sa.text("priority DESC"), "fair_key"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.execute("DROP TRIGGER backtest_jobs_delete_queue_row ON backtest_jobs")
    op.execute("DROP FUNCTION backtest_jobs_delete_queue_row()")
    op.drop_table("job_queue")
