"""index of users with a running cap

Every claim asks whether any user has a running cap (only then does it rank
candidates per user). With 1,000+ users that question scanned the whole users
table on every claim; this partial index, usually empty, answers it in one probe.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "users_capped_idx", "users", ["id"], unique=False, postgresql_where=sa.text("max_running_jobs IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_index("users_capped_idx", table_name="users", postgresql_where=sa.text("max_running_jobs IS NOT NULL"))
