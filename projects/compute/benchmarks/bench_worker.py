"""End-to-end benchmark of the compute worker, through the database.

Run: ./pants run projects/compute/benchmarks/bench_worker.py -- --jobs 10000

Enqueues ``--jobs`` backtests of strategy B (SMA 10/50 cross, 2 % stop, 4 %
target) over one synthetic dataset of ``--bars`` hourly bars, starts one worker
process (``python -m backtest_compute.cli``) with ``--slots`` slots, waits
until every job is final, stops the worker with SIGTERM and prints:

* throughput: jobs / (last ``finished_at`` - first ``started_at``), from the database;
* engine time per job (median ``run_ms`` from the worker's job log, measured in
  the backtest process: dataset lookup, backtest, result encoding);
* queue round-trip time per job, by statement (claim, complete, heartbeat, ...),
  measured by the worker around each awaited call (an upper bound of the
  database time; ``complete`` includes storing the result, 1,378 trades with
  the default ``--bars``);
* database time per job: ``pg_stat_database.active_time`` of the scratch
  database over the run (server time executing statements, all sessions)
  divided by the jobs; run with ``--bars 2000`` (small results) to see the
  queue's own cost without the cost of storing 1,378 trades per job;
* the queue's share of slot time: 1 - (engine time) / (wall time x slots);
* the engine alone in this process (run + the stored form), and encoding one
  result as JSON and in the stored form, alternating, with their sizes;
* the results table's size on disk per job.

Old against new: the script also runs against a release before the compact
result form (it then encodes JSON): put that release's ``projects/*/src`` on
``PYTHONPATH`` and run the two alternately on the same server.

Database: an embedded PostgreSQL (pgserver) by default; with
BACKTEST_DATABASE_URL (or --database-url) that server is used as an admin URL:
a scratch database is created, migrated, and dropped at the end.
Array conventions: synthetic OHLCV (int64 epoch seconds, float64 prices).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from backtest_compute import cli
from backtest_shared.datasets.store import insert_dataset
from backtest_shared.db.pool import open_pool
from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import BacktestResult
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.jobs.config import config_content_hash
from backtest_shared.jobs.config import decode_backtest_config
from backtest_shared.jobs.models import QueuedJob
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.postgres import create_migrated_template
from backtest_testing.postgres import drop_database
from backtest_testing.postgres import embedded_postgres
from backtest_testing.postgres import fresh_database
from backtest_testing.seed import seed_user

try:  # absent in releases before the compact result form: the benchmark also runs against those
    from backtest_shared.results import encode_result
except ImportError:  # pragma: no cover
    encode_result = None  # type: ignore[assignment]


@contextlib.contextmanager
def database(admin_url: str | None) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        if not admin_url:
            admin_url = stack.enter_context(embedded_postgres()).url
        template = create_migrated_template(admin_url)
        stack.callback(drop_database, admin_url, template)
        yield stack.enter_context(fresh_database(admin_url, template))


def _json_form(result: Any) -> int:
    """The JSON form results were stored in before the compact one; returns its bytes."""
    stored = result.to_stored()
    return sum(len(msgspec.json.encode(v)) for v in (stored.metrics, stored.equity_curve, stored.trades))


def _stored_form(result: Any) -> int:
    """The stored form of this code base (compact columns where it has them); returns its bytes."""
    if encode_result is None:
        return _json_form(result)
    encoded = encode_result(result)
    return len(encoded.metrics_json) + len(encoded.detail)


def engine_alone(n_bars: int, repeats: int = 50) -> float:
    """Backtests per second of the engine in this process (run + the stored form), median of runs."""
    data = synthetic_ohlcv(n_bars, seed=42)
    spec = decode_strategy(STRATEGY_B_EXAMPLE)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        _stored_form(run_backtest(data, spec))
        times.append(time.perf_counter() - started)
    return 1.0 / statistics.median(times)


def encoding_side_by_side(n_bars: int, rounds: int = 30) -> dict[str, tuple[float, int]]:
    """Median ms and bytes to encode one strategy-B result, JSON form vs this code's form, alternating."""
    result = run_backtest(synthetic_ohlcv(n_bars, seed=42), decode_strategy(STRATEGY_B_EXAMPLE))
    times: dict[str, list[float]] = {"json": [], "stored": []}
    sizes: dict[str, int] = {}
    for _ in range(rounds):
        for name, encode in (("json", _json_form), ("stored", _stored_form)):
            # A new result object over the same arrays: the JSON form caches its trade objects.
            fresh = BacktestResult(
                result.metrics, result.equity, result.timestamps, result.schedule,
                result.trade_size, result.trade_pnl, result.trade_return_pct,
            )  # fmt: skip
            started = time.perf_counter()
            sizes[name] = encode(fresh)
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: (statistics.median(times[name]), sizes[name]) for name in times}


def read_log(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                records.append(json.loads(line))
    return records


async def database_active_seconds(pool: Any) -> float:
    """Server time spent executing statements in this (scratch) database so far (PostgreSQL 14+)."""
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        cur = await conn.execute("SELECT active_time FROM pg_stat_database WHERE datname = current_database()")
        row = await cur.fetchone()
    return float(row[0] or 0.0) / 1000 if row else 0.0


def start_worker(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


async def run(args: argparse.Namespace, url: str, log_path: Path) -> dict[str, Any]:
    pool = await open_pool(url, min_size=1, max_size=4)
    try:
        queue = JobQueue(pool)
        if args.toast_compression:
            # What-if for the schema (migration 0009 compresses these columns with lz4 where the
            # server has it, else stores them uncompressed): store them as asked, to compare.
            method = "DEFAULT" if args.toast_compression == "none" else args.toast_compression
            storage = "EXTERNAL" if args.toast_compression == "none" else "EXTENDED"
            async with pool.connection() as conn:
                await conn.execute(
                    f"ALTER TABLE job_results ALTER COLUMN trades SET STORAGE {storage}, "
                    f"ALTER COLUMN equity_curve SET STORAGE {storage}, "
                    f"ALTER COLUMN trades SET COMPRESSION {method}, "
                    f"ALTER COLUMN equity_curve SET COMPRESSION {method}"
                )
        user = await seed_user(pool, "bench")
        dataset = await insert_dataset(pool, user, "bench", synthetic_ohlcv(args.bars, seed=42))
        config = decode_backtest_config({"dataset_id": str(dataset.id), "strategy": STRATEGY_B_EXAMPLE})
        job = QueuedJob(config=config, config_hash=config_content_hash(config.strategy, dataset.content_hash))
        for start in range(0, args.jobs, 1000):
            await queue.enqueue(user, [job] * min(1000, args.jobs - start))
        print(f"enqueued {args.jobs} jobs over {args.bars} bars; starting a worker with {args.slots} slots", flush=True)

        active_before = await database_active_seconds(pool)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        command = [
            sys.executable, "-m", cli.__name__,
            "--database-url", url,
            "--concurrency", str(args.slots),
            "--name", "bench",
        ]  # fmt: skip
        worker = start_worker(command, env, log_path)
        try:
            last_report = time.monotonic()
            while True:
                counts = await queue.counts_by_status()
                if counts.get("pending", 0) == 0 and counts.get("running", 0) == 0:
                    break
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited early with {worker.returncode}; see {log_path}")
                if time.monotonic() - last_report > 10:
                    print(f"  {counts}", flush=True)
                    last_report = time.monotonic()
                await asyncio.sleep(0.5)
        finally:
            worker.send_signal(signal.SIGTERM)
            await asyncio.to_thread(worker.wait, 120)
        await asyncio.sleep(1.0)  # exited backends flush their statistics
        active = await database_active_seconds(pool) - active_before
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT status, count(*), extract(epoch FROM max(finished_at) - min(started_at)) "
                "FROM backtest_jobs GROUP BY status"
            )
            rows = await cur.fetchall()
            cur = await conn.execute("SELECT pg_total_relation_size('job_results')")
            results_bytes = (await cur.fetchone() or (0,))[0]
        return {"rows": rows, "exit_code": worker.returncode, "active_seconds": active, "results_bytes": results_bytes}
    finally:
        await pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--database-url", default=os.environ.get("BACKTEST_DATABASE_URL", ""))
    parser.add_argument(
        "--toast-compression",
        choices=["none", "pglz", "lz4"],
        default=None,
        help="store job_results' large columns uncompressed or with this method (default: as migrated, "
        "lz4 where the server has it)",
    )
    args = parser.parse_args()

    encoding = encoding_side_by_side(args.bars)
    per_core = engine_alone(args.bars)
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp, database(args.database_url or None) as url:
        log_path = Path(tmp) / "worker.log"
        outcome = asyncio.run(run(args, url, log_path))
        records = read_log(log_path)

    by_status = {status: (count, seconds) for status, count, seconds in outcome["rows"]}
    succeeded, span = by_status.get("succeeded", (0, None))
    stopped = next((r for r in records if r.get("event") == "worker.stopped"), {})
    run_ms = [r["run_ms"] for r in records if r.get("event") == "job.succeeded" and "run_ms" in r]
    total_ms = [r["total_ms"] for r in records if r.get("event") == "job.succeeded" and "total_ms" in r]
    by_call: dict[str, float] = stopped.get("queue_seconds_by_call", {})
    wall = float(span or 0.0)

    print()
    print(f"jobs: {args.jobs} x strategy B over {args.bars} bars; worker slots: {args.slots}; cpus: {os.cpu_count()}; "
          f"result compression: {args.toast_compression or 'as migrated (lz4 where the server has it)'}")  # fmt: skip
    print(f"final states: { {s: c for s, (c, _) in by_status.items()} }; worker exit code {outcome['exit_code']}")
    form = "compact columns" if encode_result is not None else "JSON"
    print(f"engine alone (this process, run + stored form, {form}): {per_core:.0f} backtests/s per core, "
          f"{per_core * args.slots:.0f}/s for {args.slots} slots")  # fmt: skip
    for name, (ms, size) in encoding.items():
        label = "JSON form" if name == "json" else f"stored form ({form})"
        print(f"encoding one result, {label}: median {ms:.2f} ms, {size:,} bytes")
    if wall > 0:
        print(f"throughput: {succeeded / wall:.1f} backtests/s ({succeeded / wall * 3600:,.0f}/hour) "
              f"over {wall:.1f} s from first claim to last completion")  # fmt: skip
    if run_ms:
        print(f"per job: engine (in the backtest process) median {statistics.median(run_ms):.2f} ms; "
              f"claim-to-final median {statistics.median(total_ms):.2f} ms")  # fmt: skip
    if succeeded:
        queue_ms = 1000 * float(stopped.get("queue_seconds", 0.0)) / succeeded
        print(f"queue round trips per job: {queue_ms:.2f} ms in total; by statement: "
              + ", ".join(f"{k} {1000 * v / succeeded:.2f} ms" for k, v in sorted(by_call.items())))  # fmt: skip
        db_ms = 1000 * float(outcome["active_seconds"]) / succeeded
        print(f"database time per job (pg_stat_database.active_time, all sessions, results included): {db_ms:.2f} ms")
        per_job = outcome["results_bytes"] / succeeded
        print(f"job_results on disk per job (table, TOAST and indexes): {per_job:,.0f} bytes")
        if wall > 0:
            print(f"end to end / engine alone ({args.slots} slots): {succeeded / wall / (per_core * args.slots):.0%}")
        if wall > 0 and run_ms:
            engine_share = sum(run_ms) / 1000 / (wall * args.slots)
            print(f"share of slot time: engine {engine_share:.0%}, queue and I/O {1 - engine_share:.0%}")
    return 0 if succeeded == args.jobs else 1


if __name__ == "__main__":
    sys.exit(main())
