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
