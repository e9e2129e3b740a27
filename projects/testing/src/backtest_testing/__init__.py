"""Test support shared by every project's tests: real PostgreSQL databases.

Never imported by deployable code (enforced by visibility rules).
"""
