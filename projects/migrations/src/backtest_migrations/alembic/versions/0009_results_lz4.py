"""job_results: compress equity curves and trades with lz4 where the server supports it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

0001 stored them uncompressed (STORAGE EXTERNAL) because pglz's CPU cost per
result outweighed the space it saved. lz4 is cheap enough: it roughly halves
what a result takes on disk and in WAL, and the smaller WAL pays for the extra
CPU per insert, so the worker's throughput does not drop.

A server built without lz4 (the embedded pgserver build) keeps the old storage.
Only values written from now on are compressed; older rows stay as they are.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
            ALTER TABLE job_results
                ALTER COLUMN equity_curve SET COMPRESSION lz4,
                ALTER COLUMN trades SET COMPRESSION lz4,
                ALTER COLUMN equity_curve SET STORAGE EXTENDED,
                ALTER COLUMN trades SET STORAGE EXTENDED;
        EXCEPTION WHEN feature_not_supported THEN
            RAISE NOTICE 'this server has no lz4: results stay uncompressed';
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE job_results"
        " ALTER COLUMN equity_curve SET COMPRESSION DEFAULT,"
        " ALTER COLUMN trades SET COMPRESSION DEFAULT,"
        " ALTER COLUMN equity_curve SET STORAGE EXTERNAL,"
        " ALTER COLUMN trades SET STORAGE EXTERNAL"
    )
