"""a job has a lease expiry exactly while it runs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

The queue's fenced batch writes recognise a running job by its lease
(``lease_expires_at IS NOT NULL``, see ``queue_sql``); this constraint makes the
two tests equivalent.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_check_constraint(
        "backtest_jobs_lease_check", "backtest_jobs", "(status = 'running') = (lease_expires_at IS NOT NULL)"
    )


def downgrade() -> None:
    op.drop_constraint("backtest_jobs_lease_check", "backtest_jobs", type_="check")
