"""The workers' statements run with generic plans (``open_pool(generic_plans=True)``):
planned once per connection, without the parameters' values, so those plans must
be good for any batch and any history.
"""

import re
import uuid

import psycopg
import pytest
from psycopg import _queries
from psycopg.adapt import Transformer

from backtest_shared.db.pool import session_settings
from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_finished_history
from backtest_testing.seed import seed_user


def generic_plan(conn: psycopg.Connection, sql: str, params: dict) -> str:
    """EXPLAIN ANALYZE of ``sql`` as a prepared statement under force_generic_plan."""
    query = _queries.PostgresQuery(Transformer(conn))
    query.convert(sql, params)
    names: list[str] = []
    for match in re.finditer(r"%\((\w+)\)[sb]", sql):
        if match.group(1) not in names:
            names.append(match.group(1))
    conn.execute("SET plan_cache_mode = force_generic_plan")
    conn.execute(b"PREPARE generic_statement AS " + query.query)
    row = conn.execute(
        "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = 'generic_statement'"
    ).fetchone()
    assert row is not None
    types: list[str] = row[0]
    cur = psycopg.ClientCursor(conn)
    arguments = ", ".join(f"%s::{type_}" for type_ in types)
    cur.execute(f"EXPLAIN ANALYZE EXECUTE generic_statement({arguments})", [params[name] for name in names])
    plan = "\n".join(row[0] for row in cur.fetchall())
    conn.execute("DEALLOCATE generic_statement")
    return plan


@pytest.fixture
async def busy_queue(queue: JobQueue, pool):
    """A queue with a long history, 500 pending jobs and 100 running ones, analysed."""
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await queue.enqueue(user, [job_for(dataset)] * 600)
    await seed_finished_history(pool, user, dataset.id, 50_000)
    running = await queue.claim(uuid.uuid4(), 100)
    return running


def _outcome_params(jobs) -> dict:
    return {
        "ids": [job.id for job in jobs],
        "tokens": [job.lease_token for job in jobs],
        "metrics": ["{}"] * len(jobs),
        "details": [b""] * len(jobs),
    }


async def test_the_generic_claim_takes_the_head_of_the_pending_index(busy_queue, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        plan = generic_plan(conn, queue_sql.CLAIM, {"worker_id": uuid.uuid4(), "limit": 10, "lease_seconds": 30})

    assert "job_queue_claim_idx" in plan, plan
    assert "Seq Scan on backtest_jobs" not in plan, plan
    assert "Index Scan using backtest_jobs_pkey" in plan, plan  # the update probes each chosen job


async def test_the_generic_complete_and_claim_probes_finished_jobs_by_primary_key(
    busy_queue, database_url: str
) -> None:
    # Regression: (id, token) pairs joined through unnest planned as a nested loop
    # over the partial index of running jobs, comparing each with every pair.
    params = {**_outcome_params(busy_queue), "worker_id": uuid.uuid4(), "limit": 100, "lease_seconds": 30}
    with psycopg.connect(database_url, autocommit=True) as conn:
        plan = generic_plan(conn, queue_sql.COMPLETE_AND_CLAIM, params)
        finished = conn.execute(
            "SELECT count(*) FROM backtest_jobs WHERE status = 'succeeded' AND id = ANY(%s)",
            [[job.id for job in busy_queue]],
        ).fetchone()

    finishing = plan[plan.index("CTE finished") : plan.index("CTE stored")]
    assert "backtest_jobs_pkey" in finishing, plan
    assert "Join Filter" not in finishing, plan
    assert "Seq Scan on backtest_jobs" not in plan, plan
    assert finished == (100,)


async def test_the_generic_heartbeat_probes_held_jobs_by_primary_key(busy_queue, database_url: str) -> None:
    params = {
        "worker_id": uuid.uuid4(),
        "degraded": None,
        "ids": [job.id for job in busy_queue],
        "tokens": [job.lease_token for job in busy_queue],
        "lease_seconds": 30,
    }
    with psycopg.connect(database_url, autocommit=True) as conn:
        plan = generic_plan(conn, queue_sql.HEARTBEAT, params)

    assert "backtest_jobs_pkey" in plan, plan
    assert "Join Filter" not in plan, plan
    assert "Seq Scan on backtest_jobs" not in plan, plan


async def test_complete_and_claim_claims_before_it_completes(busy_queue, database_url: str) -> None:
    # Regression: with the completion first, the claim scanned on a snapshot taken
    # before other workers' recent claims, locked their jobs on the way (a lock
    # PostgreSQL keeps for rows it then skips) and made their completions wait.
    params = {**_outcome_params(busy_queue), "worker_id": uuid.uuid4(), "limit": 10, "lease_seconds": 30}
    with psycopg.connect(database_url, autocommit=True) as conn:
        plan = generic_plan(conn, queue_sql.COMPLETE_AND_CLAIM, params)

    claimed = re.search(r"CTE Scan on claimed c\s", plan)
    finished = re.search(r"CTE Scan on finished f\s", plan)
    assert claimed is not None and finished is not None, plan
    assert claimed.start() < finished.start(), plan


async def test_a_worker_claim_planned_on_an_empty_queue_still_takes_the_index_head_once_it_fills(
    queue: JobQueue, pool, database_url: str
) -> None:
    # Regression: planned once while job_queue was empty (and so analysed), the
    # generic claim scanned and sorted the whole table for every claim after a
    # large bundle arrived, until autovacuum analysed the table again.
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    params = {"worker_id": uuid.uuid4(), "limit": 10, "lease_seconds": 30}
    options = " ".join(session_settings(generic_plans=True))
    with psycopg.connect(database_url, autocommit=True, options=options) as conn:
        conn.execute("ANALYZE job_queue")
        conn.execute(queue_sql.CLAIM, params, prepare=True)  # planned now, on an empty queue
        await queue.enqueue(user, [job_for(dataset)] * 5_000)
        row = conn.execute("SELECT name, generic_plans, parameter_types::text[] FROM pg_prepared_statements").fetchone()
        assert row is not None and row[1] == 1
        name, _, types = row
        cur = psycopg.ClientCursor(conn)
        arguments = ", ".join(f"%s::{type_}" for type_ in types)
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)[sb]", queue_sql.CLAIM)))
        cur.execute(f"EXPLAIN ANALYZE EXECUTE {name}({arguments})", [params[n] for n in names])
        plan = "\n".join(row[0] for row in cur.fetchall())

    assert "job_queue_claim_idx" in plan, plan
    assert "Seq Scan on job_queue" not in plan, plan
