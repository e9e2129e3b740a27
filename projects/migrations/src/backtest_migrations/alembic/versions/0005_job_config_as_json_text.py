"""store job configs as json (checked text) instead of jsonb

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Nothing queries inside a config on the hot path; what the queue does with it is
write it once and hand it to a worker with every claim. As ``jsonb`` each
enqueue parses it into the binary form and each claim prints it back to text,
work that nothing on the hot path benefits from. As ``json`` both are a copy;
the rare queries that look inside (a bundle's ranked results) parse it then.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE backtest_jobs ALTER COLUMN config TYPE json USING config::json")


def downgrade() -> None:
    op.execute("ALTER TABLE backtest_jobs ALTER COLUMN config TYPE jsonb USING config::jsonb")
