"""results without a foreign key; deleting jobs deletes their results by trigger

A job's result is written only by the statement that finishes the job (or copies
an identical job's result in the statement that inserts the job), so the key
always exists by construction, and the foreign key's per-row check only slows
down the completion statement; a statement-level trigger keeps what the key's
ON DELETE CASCADE gave: deleting jobs (directly or through their user or
bundle) deletes their results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("job_results_job_id_fkey", "job_results", type_="foreignkey")
    op.execute(
        """
        CREATE FUNCTION backtest_jobs_delete_results() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM job_results r USING deleted_jobs d WHERE r.job_id = d.id;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER backtest_jobs_delete_results
        AFTER DELETE ON backtest_jobs
        REFERENCING OLD TABLE AS deleted_jobs
        FOR EACH STATEMENT EXECUTE FUNCTION backtest_jobs_delete_results()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER backtest_jobs_delete_results ON backtest_jobs")
    op.execute("DROP FUNCTION backtest_jobs_delete_results()")
    op.execute("DELETE FROM job_results r WHERE NOT EXISTS (SELECT 1 FROM backtest_jobs j WHERE j.id = r.job_id)")
    op.create_foreign_key(
        "job_results_job_id_fkey", "job_results", "backtest_jobs", ["job_id"], ["id"], ondelete="CASCADE"
    )
