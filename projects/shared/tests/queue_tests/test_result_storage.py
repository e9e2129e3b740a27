"""Results are stored as compact columns (migration 0011), and rows in the older JSON form still read back."""

import uuid

import msgspec

from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.models import QueuedJob
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.results import encode_result
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user


async def _one_running_job(queue: JobQueue, pool) -> tuple[Lease, QueuedJob, uuid.UUID]:  # type: ignore[no-untyped-def]
    user = await seed_user(pool)
    job = job_for(await seed_dataset(pool, user))
    await queue.enqueue(user, [job])
    [claimed] = await queue.claim(uuid.uuid4(), 1)
    return Lease(claimed.id, claimed.lease_token), job, user


async def test_an_engine_result_is_stored_compact_once_and_reads_back_as_its_json_form(queue: JobQueue, pool) -> None:
    lease, _, _ = await _one_running_job(queue, pool)
    result = run_backtest(synthetic_ohlcv(20_000, seed=5), decode_strategy(STRATEGY_B_EXAMPLE))
    encoded = encode_result(result)
    assert await queue.complete_encoded([(lease, encoded)]) == {lease.job_id: "succeeded"}

    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT equity_curve IS NULL AND trades IS NULL, pg_column_compression(detail),"
            " octet_length(detail) FROM job_results WHERE job_id = %s",
            (lease.job_id,),
        )
        [(no_json, compression, stored_bytes)] = await cur.fetchall()
    # Compressed once, by the backtest process; the server stores the bytes as they are.
    assert no_json and compression is None and stored_bytes == len(encoded.detail)

    stored = result.to_stored()
    read = await queue.get_result(lease.job_id)
    assert read is not None
    assert msgspec.json.encode(read.trades) == msgspec.json.encode(stored.trades)
    assert msgspec.json.encode(read.equity_curve) == msgspec.json.encode(stored.equity_curve)
    # jsonb, as before 0011: the same members, in jsonb's key order.
    assert read.metrics == msgspec.to_builtins(stored.metrics)


async def test_a_row_written_in_the_json_form_reads_back_as_it_was_stored(queue: JobQueue, pool) -> None:
    lease, _, _ = await _one_running_job(queue, pool)
    result = run_backtest(synthetic_ohlcv(5_000, seed=5), decode_strategy(STRATEGY_B_EXAMPLE))
    assert await queue.complete_encoded([(lease, encode_result(result))]) == {lease.job_id: "succeeded"}
    stored = result.to_stored()
    async with pool.connection() as conn:
        # What a completion before migration 0011 wrote.
        await conn.execute(
            "UPDATE job_results SET equity_curve = %s::json, trades = %s::json, detail = NULL WHERE job_id = %s",
            (
                msgspec.json.encode(stored.equity_curve).decode(),
                msgspec.json.encode(stored.trades).decode(),
                lease.job_id,
            ),
        )
    read = await queue.get_result(lease.job_id)
    assert read is not None
    assert read.trades == msgspec.to_builtins(stored.trades)
    assert read.equity_curve == [list(point) for point in stored.equity_curve]


async def test_a_reused_result_is_copied_in_its_stored_form(queue: JobQueue, pool) -> None:
    lease, job, user = await _one_running_job(queue, pool)
    result = run_backtest(synthetic_ohlcv(5_000, seed=5), decode_strategy(STRATEGY_B_EXAMPLE))
    await queue.complete_encoded([(lease, encode_result(result))])
    [copy_id], reused = await queue.enqueue_reusing(user, [job])
    assert reused == {copy_id: lease.job_id}
    first = await queue.get_result(lease.job_id)
    assert first is not None and await queue.get_result(copy_id) == first
