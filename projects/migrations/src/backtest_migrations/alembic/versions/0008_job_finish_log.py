"""job_finish_log: recent finishes for queue statistics, without scanning the history

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Queue statistics and the Prometheus metrics counted jobs finished in the last
minute, and the run times of the last five minutes, in backtest_jobs: a scan of
the whole history on every scrape (0.8 s at a million jobs), since no index may
name its status or finish time without making completions non-HOT updates.
Each statement that finishes jobs now appends one row here; the reaper prunes
rows older than 15 minutes. The last 15 minutes of finishes are carried over.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_finish_log",
        sa.Column("finished_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.Column("run_seconds", postgresql.ARRAY(sa.Float()), nullable=False),
    )
    op.create_index("job_finish_log_finished_idx", "job_finish_log", ["finished_at"])
    op.execute(
        """
        INSERT INTO job_finish_log (finished_at, succeeded, failed, cancelled, run_seconds)
        SELECT finished_at, (status = 'succeeded')::int, (status = 'failed')::int, (status = 'cancelled')::int,
               CASE WHEN status = 'succeeded' AND reused_from IS NULL AND started_at IS NOT NULL
                    THEN ARRAY[extract(epoch FROM finished_at - started_at)::float8]
                    ELSE '{}'::float8[] END
          FROM backtest_jobs
         WHERE status IN ('succeeded', 'failed', 'cancelled') AND finished_at > now() - interval '15 minutes'
        """
    )


def downgrade() -> None:
    op.drop_index("job_finish_log_finished_idx", table_name="job_finish_log")
    op.drop_table("job_finish_log")
