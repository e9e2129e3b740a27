"""index idempotency records by age, for the API's purge of expired ones

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("idempotency_records_created_idx", "idempotency_records", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("idempotency_records_created_idx", table_name="idempotency_records")
