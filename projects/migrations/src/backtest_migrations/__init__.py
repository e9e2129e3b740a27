"""Alembic migrations of the platform's schema, shipped as their own PEX."""
