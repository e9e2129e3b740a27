"""Database schema (SQLAlchemy 2.0 typed mappings) and connection helpers."""
