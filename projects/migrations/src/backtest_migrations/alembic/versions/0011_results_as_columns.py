"""job_results: the curve and the trades as one compact column (``detail``)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

Results are written as their metrics (jsonb, ranked and filtered in SQL) and
``detail``: the equity curve and the trades as compressed column buffers made
by ``backtest_shared.results``, far smaller than the same data as JSON text,
even after lz4. The bytes are compressed already, so the column is ``STORAGE
EXTERNAL`` (PostgreSQL does not try again).

Rows written before keep their JSON columns and are read as they are: the two
JSON columns become nullable, and a row holds either form (checked).
Downgrading is refused while any row holds only the compact form.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE job_results
            ADD COLUMN detail bytea,
            ALTER COLUMN detail SET STORAGE EXTERNAL,
            ALTER COLUMN equity_curve DROP NOT NULL,
            ALTER COLUMN trades DROP NOT NULL,
            ADD CONSTRAINT job_results_one_form
                CHECK (detail IS NOT NULL OR (equity_curve IS NOT NULL AND trades IS NOT NULL))
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM job_results WHERE equity_curve IS NULL OR trades IS NULL) THEN
                RAISE EXCEPTION 'job_results holds compact results that revision 0010 cannot read';
            END IF;
        END
        $$
        """
    )
    op.execute(
        """
        ALTER TABLE job_results
            DROP CONSTRAINT job_results_one_form,
            DROP COLUMN detail,
            ALTER COLUMN equity_curve SET NOT NULL,
            ALTER COLUMN trades SET NOT NULL
        """
    )
