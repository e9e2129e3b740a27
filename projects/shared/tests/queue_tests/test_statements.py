"""The queue's statements as psycopg sees them."""

from psycopg import _queries

from backtest_shared.jobs import queue_sql


def test_every_queue_statement_fits_psycopgs_query_cache() -> None:
    # Regression: ENQUEUE grew to 4,114 bytes, past psycopg's 4,096-byte limit for
    # caching the parsed form of a query, and was re-parsed on every submit.
    statements = {
        name: value
        for name, value in vars(queue_sql).items()
        if name.isupper()
        and isinstance(value, str)
        and value.lstrip().upper().startswith(("WITH", "SELECT", "INSERT", "UPDATE"))
    }
    assert "ENQUEUE" in statements and "COMPLETE_AND_CLAIM" in statements
    limit = _queries.MAX_CACHED_STATEMENT_LENGTH
    too_long = {name: len(sql.encode()) for name, sql in statements.items() if len(sql.encode()) > limit}
    assert too_long == {}
