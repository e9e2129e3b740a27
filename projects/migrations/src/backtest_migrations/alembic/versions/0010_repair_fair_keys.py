"""job_queue: restore unique fair keys per owner; workers: record why a worker is degraded

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Enqueues used to start an owner's keys at the queue head whenever the owner had
nothing pending, even while the owner's running jobs held keys there. A claim
of such a pending job, or a reap of such a running one, then violated a unique
index, and every worker that tried stopped. Enqueues now keep the keys apart;
this revision repairs a queue that already holds such clashes (the same
statement as ``backtest-migrations repair-queue``), moving each clashing pending
job to a fresh key and raising the owners' counters. No job, result or dataset
is lost; on a healthy queue it changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backtest_shared.jobs import queue_sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(queue_sql.LOCK_FOR_REPAIR)
    op.execute(queue_sql.REPAIR_FAIR_KEYS)
    # A worker whose claims or reaps keep failing says so with each heartbeat.
    op.add_column("workers", sa.Column("degraded", sa.Text(), nullable=True))


def downgrade() -> None:
    # The repaired keys are valid under every earlier revision: nothing to undo there.
    op.drop_column("workers", "degraded")
