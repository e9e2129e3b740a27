from __future__ import annotations

import asyncio

from psycopg_pool import AsyncConnectionPool

from api_tests.helpers import backtest_request
from api_tests.helpers import upload_dataset
from backtest_api.ops.housekeeping import prune_finish_log_periodically
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.tasks import stop_tasks


async def test_readiness_reports_the_database_at_head(client):
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_queue_stats_count_jobs_by_status_and_priority(client, alice, admin):
    dataset_id = await upload_dataset(client, alice.headers)
    await client.post("/api/v1/backtests", json=backtest_request(dataset_id, priority=3), headers=alice.headers)

    body = (await client.get("/api/v1/queue/stats", headers=admin.headers)).json()

    assert body["by_status"] == {"pending": 1}
    assert body["depth"] == [{"status": "pending", "priority": 3, "jobs": 1}]
    assert body["oldest_pending_seconds"] >= 0


async def test_queue_stats_count_the_last_minutes_finishes_by_status(client, alice, admin, queue):
    import uuid

    from backtest_testing.seed import outcome_for

    dataset_id = await upload_dataset(client, alice.headers)
    submitted = []
    for fee in (1.0, 2.0, 3.0):
        request = backtest_request(dataset_id, strategy={**STRATEGY_A_EXAMPLE, "costs": {"fee_bps": fee}})
        submitted.append((await client.post("/api/v1/backtests", json=request, headers=alice.headers)).json()["id"])
    [job] = await queue.claim(uuid.uuid4(), 1)
    await queue.complete([outcome_for(job)])
    await client.post(f"/api/v1/backtests/{submitted[1]}/cancel", headers=alice.headers)

    body = (await client.get("/api/v1/queue/stats", headers=admin.headers)).json()
    text = (await client.get("/metrics", headers=admin.headers)).text

    assert body["by_status"] == {"pending": 1}
    assert body["finished_last_minute"] == 2
    assert body["finished_last_minute_by_status"] == {"succeeded": 1, "failed": 0, "cancelled": 1}
    assert 'backtest_jobs_finished_last_minute{status="cancelled"} 1.0' in text
    assert 'backtest_job_duration_seconds{quantile="0.5"}' in text


async def test_metrics_expose_request_latency_and_queue_depth(client, alice, admin):
    dataset_id = await upload_dataset(client, alice.headers)
    await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)

    text = (await client.get("/metrics", headers=admin.headers)).text

    assert "backtest_api_request_duration_seconds_bucket" in text
    assert 'backtest_queue_jobs{priority="0",status="pending"} 1.0' in text


async def test_workers_are_listed_from_the_registry(client, admin, queue):
    import uuid

    from backtest_shared.jobs.models import WorkerInfo

    await queue.register_worker(WorkerInfo(id=uuid.uuid4(), name="w1", host="h", pid=1, version="1", slots=2))

    body = (await client.get("/api/v1/workers", headers=admin.headers)).json()

    assert [(w["name"], w["state"]) for w in body["items"]] == [("w1", "alive")]


async def test_workers_are_listed_with_the_jobs_each_is_running(client, alice, admin, queue):
    import uuid

    from backtest_shared.jobs.models import WorkerInfo

    dataset_id = await upload_dataset(client, alice.headers)
    for fee in (1.0, 2.0, 3.0):
        request = backtest_request(dataset_id, strategy={**STRATEGY_A_EXAMPLE, "costs": {"fee_bps": fee}})
        await client.post("/api/v1/backtests", json=request, headers=alice.headers)
    busy, idle = uuid.uuid4(), uuid.uuid4()
    for worker_id, name in ((busy, "busy"), (idle, "idle")):
        await queue.register_worker(WorkerInfo(id=worker_id, name=name, host="h", pid=1, version="1", slots=2))
    await queue.claim(busy, 2)

    body = (await client.get("/api/v1/workers", headers=admin.headers)).json()

    assert {w["name"]: w["running_jobs"] for w in body["items"]} == {"busy": 2, "idle": 0}


async def test_each_api_process_prunes_the_finish_log_so_it_stays_short_without_workers(
    queue: JobQueue, pool: AsyncConnectionPool
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO job_finish_log (finished_at, succeeded, failed, cancelled, run_seconds)"
            " VALUES (now() - interval '1 hour', 1, 0, 0, '{1}'), (now(), 0, 0, 1, '{}')"
        )
    pruner = asyncio.create_task(prune_finish_log_periodically(queue, interval_seconds=0.05))
    try:
        async with asyncio.timeout(10):
            while (rows := await _finish_log_cancelled(pool)) != [(1,)]:
                await asyncio.sleep(0.05)
    finally:
        await stop_tasks([pruner])

    assert rows == [(1,)]


async def _finish_log_cancelled(pool: AsyncConnectionPool) -> list[tuple[int]]:
    async with pool.connection() as conn:
        return await (await conn.execute("SELECT cancelled FROM job_finish_log")).fetchall()


async def test_a_degraded_worker_shows_in_the_registry_and_the_metrics(client, admin, queue):
    import uuid

    from backtest_shared.jobs.models import WorkerInfo

    healthy, degraded = uuid.uuid4(), uuid.uuid4()
    for worker_id, name in ((healthy, "healthy"), (degraded, "stuck")):
        await queue.register_worker(WorkerInfo(id=worker_id, name=name, host="h", pid=1, version="1", slots=2))
    await queue.heartbeat(degraded, [], degraded='claim: duplicate key value violates "job_queue_claimed_idx"')

    body = (await client.get("/api/v1/workers", headers=admin.headers)).json()
    text = (await client.get("/metrics", headers=admin.headers)).text

    states = {w["name"]: (w["state"], w["degraded"]) for w in body["items"]}
    assert states == {
        "healthy": ("alive", None),
        "stuck": ("degraded", 'claim: duplicate key value violates "job_queue_claimed_idx"'),
    }
    assert 'backtest_workers{state="degraded"} 1.0' in text
    assert 'backtest_workers{state="alive"} 1.0' in text
