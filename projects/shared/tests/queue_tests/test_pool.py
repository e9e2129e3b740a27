from typing import Any

from backtest_shared.db.pool import open_pool


async def _read(url: str, sql: str, **pool_options: Any) -> tuple[Any, ...] | None:
    """One row read through a fresh pool opened with these options."""
    pool = await open_pool(url, max_size=1, **pool_options)
    try:
        async with pool.connection() as conn:
            return await (await conn.execute(sql)).fetchone()
    finally:
        await pool.close()


async def test_pools_commit_synchronously_unless_asked_not_to(database_url: str) -> None:
    assert await _read(database_url, "SHOW synchronous_commit") == ("on",)
    assert await _read(database_url, "SHOW synchronous_commit", synchronous_commit=False) == ("off",)


async def test_options_in_the_database_url_reach_the_server(database_url: str) -> None:
    # Regression: open_pool always passed its own (empty) options, which replaced
    # any ``?options=-c ...`` given in the URL.
    separator = "&" if "?" in database_url else "?"
    url = f"{database_url}{separator}options=-c%20statement_timeout%3D1234"
    both = "SELECT current_setting('statement_timeout'), current_setting('synchronous_commit')"

    assert await _read(url, both) == ("1234ms", "on")
    assert await _read(url, both, synchronous_commit=False) == ("1234ms", "off")
