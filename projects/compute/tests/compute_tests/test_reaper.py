import asyncio
import contextlib

from backtest_compute.reaper import Reaper
from backtest_shared.jobs.repository import JobQueue
from compute_tests.helpers import wait_until


async def test_exactly_one_reaper_is_active_and_another_takes_over_when_it_stops(
    queue: JobQueue, database_url: str
) -> None:
    reapers = [Reaper(queue, database_url, f"reaper-{i}", interval=0.1) for i in range(3)]
    tasks = [asyncio.create_task(r.run()) for r in reapers]

    async def someone_holds() -> bool:
        return any(r.holding for r in reapers)

    try:
        await wait_until(someone_holds, timeout=10)
        await asyncio.sleep(0.3)  # every other reaper has tried by now, several times
        holders = [r for r in reapers if r.holding]
        assert len(holders) == 1

        first = reapers.index(holders[0])
        tasks[first].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[first]
        await wait_until(someone_holds, timeout=10)
        await asyncio.sleep(0.3)

        holders = [r for r in reapers if r.holding]
        assert len(holders) == 1 and holders[0] is not reapers[first]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_active_reaper_prunes_the_finish_log(queue: JobQueue, database_url: str, pool) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO job_finish_log (finished_at, succeeded, failed, cancelled, run_seconds)"
            " VALUES (now() - interval '1 hour', 1, 0, 0, '{1}'), (now(), 0, 1, 0, '{}')"
        )
    reaper = Reaper(queue, database_url, "reaper", interval=0.1)
    task = asyncio.create_task(reaper.run())
    try:

        async def pruned() -> bool:
            async with pool.connection() as conn:
                rows = await (await conn.execute("SELECT failed FROM job_finish_log")).fetchall()
            return rows == [(1,)]

        await wait_until(pruned, timeout=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
