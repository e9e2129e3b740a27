from backtest_shared.db.pool import open_pool


async def test_pools_commit_synchronously_unless_asked_not_to(database_url: str) -> None:
    durable = await open_pool(database_url, max_size=1)
    fast = await open_pool(database_url, max_size=1, synchronous_commit=False)
    try:
        async with durable.connection() as conn:
            durable_setting = await (await conn.execute("SHOW synchronous_commit")).fetchone()
        async with fast.connection() as conn:
            fast_setting = await (await conn.execute("SHOW synchronous_commit")).fetchone()
    finally:
        await durable.close()
        await fast.close()

    assert durable_setting == ("on",)
    assert fast_setting == ("off",)


async def test_options_in_the_database_url_reach_the_server(database_url: str) -> None:
    # Regression: open_pool always passed its own (empty) options, which replaced
    # any ``?options=-c ...`` given in the URL.
    separator = "&" if "?" in database_url else "?"
    url = f"{database_url}{separator}options=-c%20statement_timeout%3D1234"
    plain = await open_pool(url, max_size=1)
    fast = await open_pool(url, max_size=1, synchronous_commit=False)
    try:
        async with plain.connection() as conn:
            plain_timeout = await (await conn.execute("SHOW statement_timeout")).fetchone()
        async with fast.connection() as conn:
            fast_settings = await (
                await conn.execute("SELECT current_setting('statement_timeout'), current_setting('synchronous_commit')")
            ).fetchone()
    finally:
        await plain.close()
        await fast.close()

    assert plain_timeout == ("1234ms",)
    assert fast_settings == ("1234ms", "off")
