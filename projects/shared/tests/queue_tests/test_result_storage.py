"""Large results are stored lz4-compressed where the server has lz4 (migration 0009), and read back intact."""

import uuid

from backtest_shared.jobs.repository import JobQueue
from backtest_testing.postgres import server_has_lz4
from backtest_testing.seed import job_for
from backtest_testing.seed import outcome_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user


async def test_a_large_result_is_stored_lz4_compressed_where_the_server_has_lz4_and_reads_back_intact(
    queue: JobQueue, pool, database_url: str
) -> None:
    user = await seed_user(pool)
    [job_id] = await queue.enqueue(user, [job_for(await seed_dataset(pool, user))])
    [job] = await queue.claim(uuid.uuid4(), 1)
    trades = [
        {"entry_time": 1_700_000_000 + 3600 * i, "side": "long", "entry_price": 100 + i / 7, "pnl": i / 3}
        for i in range(3000)
    ]
    equity = [[1_700_000_000 + 60 * i, 1 + i / 10_000] for i in range(2000)]
    assert await queue.complete([outcome_for(job, equity_curve=equity, trades=trades)]) == {job_id: "succeeded"}

    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pg_column_compression(trades), pg_column_compression(equity_curve),"
            " pg_column_size(trades), octet_length(trades::text) FROM job_results WHERE job_id = %s",
            (job_id,),
        )
        [(trades_method, equity_method, stored_bytes, text_bytes)] = await cur.fetchall()

    if server_has_lz4(database_url):
        assert (trades_method, equity_method) == ("lz4", "lz4")
        assert stored_bytes < text_bytes / 2
    else:  # stored as before 0009: uncompressed
        assert (trades_method, equity_method) == (None, None)
        assert stored_bytes >= text_bytes
    result = await queue.get_result(job_id)
    assert result is not None and result.trades == trades and result.equity_curve == equity
