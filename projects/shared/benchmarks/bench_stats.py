"""Benchmark of the queue statistics behind ``/api/v1/queue/stats`` and ``/metrics``.

Run: ``./pants run projects/shared/benchmarks/bench_stats.py`` (embedded
PostgreSQL) or with ``-- --database-url postgresql://postgres@127.0.0.1:5432/postgres``.

Fills a fresh database with a history of finished jobs (default 1,000,000), a
queue of pending jobs and a finish log as a busy queue leaves it (default
1,170,000 rows over 15 minutes: 1,300 finishing statements per second, the
bench_queue rate at batches of 10), then times each statistics statement
(3 runs, ms). ``COUNT_BY_STATUS`` counts the whole history, as queue statistics
did before the finish log, and is printed for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import psycopg
from bench_queue import _server

from backtest_shared.jobs import queue_sql
from backtest_testing.postgres import fresh_database

SEED_HISTORY = """
INSERT INTO users (id, name) VALUES ('00000000-0000-0000-0000-000000000001', 'bench');
INSERT INTO datasets (id, owner_id, name, content_hash, n_bars, first_timestamp, last_timestamp, size_bytes, parquet)
VALUES ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001', 'bench', 'h', 0, 0, 0, 0, '');
"""

FILL_JOBS = """
INSERT INTO backtest_jobs (id, owner_id, dataset_id, fair_key, config, config_hash, status, attempts, progress,
                           started_at, finished_at, priority)
SELECT gen_random_uuid(), '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002',
       g, %(config)s::json, md5(g::text), CASE WHEN g <= %(history)s THEN 'succeeded' ELSE 'pending' END,
       CASE WHEN g <= %(history)s THEN 1 ELSE 0 END, CASE WHEN g <= %(history)s THEN 1 ELSE 0 END,
       CASE WHEN g <= %(history)s THEN now() - (g %% 86400) * interval '1 second' - interval '2 seconds' END,
       CASE WHEN g <= %(history)s THEN now() - (g %% 86400) * interval '1 second' END, (g %% 3)::smallint
  FROM generate_series(1, %(history)s + %(pending)s) AS g
"""

FILL_QUEUE = """
INSERT INTO job_queue (job_id, owner_id, priority, fair_key)
SELECT id, owner_id, priority, fair_key FROM backtest_jobs WHERE status = 'pending'
"""

FILL_LOG = """
INSERT INTO job_finish_log (finished_at, succeeded, failed, cancelled, run_seconds)
SELECT now() - (g %% 900) * interval '1 second', 10, 0, 0, '{1,2,3,4,5,6,7,8,9,10}'
  FROM generate_series(1, %(rows)s) AS g
"""

CONFIG = (
    '{"dataset_id": "00000000-0000-0000-0000-000000000002", "strategy": {"name": "sma_10_50_cross_long", '
    '"indicators": {"fast": {"kind": "sma", "period": 10}, "slow": {"kind": "sma", "period": 50}}, '
    '"entry": {"conditions": [{"kind": "crosses_above", "left": "fast", "right": "slow"}]}, '
    '"exit": {"conditions": [{"kind": "crosses_below", "left": "fast", "right": "slow"}]}}}'
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", help="server to use (default: an embedded PostgreSQL)")
    parser.add_argument("--history", type=int, default=1_000_000, help="finished jobs")
    parser.add_argument("--pending", type=int, default=100_000, help="pending jobs")
    parser.add_argument("--log-rows", type=int, default=1_170_000, help="finish-log rows (15 minutes)")
    args = parser.parse_args(argv)

    with _server(args.database_url) as (admin, template), fresh_database(admin, template) as url:
        asyncio.run(_run(url, args.history, args.pending, args.log_rows))
    return 0


async def _run(url: str, history: int, pending: int, log_rows: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        t0 = time.perf_counter()
        await conn.execute(SEED_HISTORY)
        await conn.execute(FILL_JOBS, {"config": CONFIG, "history": history, "pending": pending})
        await conn.execute(FILL_QUEUE)
        await conn.execute(FILL_LOG, {"rows": log_rows})
        await conn.execute("VACUUM ANALYZE backtest_jobs, job_queue, job_finish_log")
        print(
            f"{history:,} finished jobs, {pending:,} pending, {log_rows:,} finish-log rows "
            f"(filled in {time.perf_counter() - t0:.0f} s); ms per statement, 3 runs:"
        )
        statements = {
            "QUEUE_DEPTH": queue_sql.QUEUE_DEPTH,
            "QUEUE_STATS": queue_sql.QUEUE_STATS,
            "RECENT_RUN_SECONDS": queue_sql.RECENT_RUN_SECONDS,
            "COUNT_BY_STATUS (whole history)": queue_sql.COUNT_BY_STATUS,
        }
        for name, statement in statements.items():
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                await (await conn.execute(statement)).fetchall()
                times.append((time.perf_counter() - t0) * 1000)
            print(f"  {name:<32} {'  '.join(f'{t:7.1f}' for t in times)}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
