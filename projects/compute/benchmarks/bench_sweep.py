"""A parameter sweep through the platform against ``run_sweep`` in one process.

Run: ./pants run projects/compute/benchmarks/bench_sweep.py -- --combinations 1000

Submits one bundle of ``--combinations`` strategy-B variants (fast SMA period x
slow SMA period x stop-loss, over one synthetic dataset of ``--bars`` hourly
bars), starts one worker with ``--slots`` slots, waits until every child is
final and reads the ranking (the API's ranked query, by Sharpe), and prints
the time from submit to ranked results next to ``run_sweep`` over the same
specs in this process (indicators shared across the sweep, metrics only).

Database: as ``bench_worker.py`` (embedded PostgreSQL by default, or a scratch
database on the server named by BACKTEST_DATABASE_URL / --database-url).
Array conventions: synthetic OHLCV (int64 epoch seconds, float64 prices).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench_worker import database
from bench_worker import read_log
from bench_worker import start_worker

from backtest_compute import cli
from backtest_shared.datasets.store import insert_dataset
from backtest_shared.db.pool import open_pool
from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import expand_grid
from backtest_shared.engine import run_sweep
from backtest_shared.engine import strategy_to_builtins
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.jobs.config import config_content_hash
from backtest_shared.jobs.config import decode_backtest_config
from backtest_shared.jobs.models import QueuedJob
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import seed_user

RANKED = """
SELECT j.id, r.metrics->>'sharpe'
  FROM backtest_jobs j
  JOIN job_results r ON r.config_hash = j.config_hash AND r.job_id = j.id
 WHERE j.bundle_id = %(id)s AND j.status = 'succeeded'
 ORDER BY (r.metrics->>'sharpe')::float8 DESC NULLS LAST
 LIMIT 10
"""


def grid(combinations: int) -> dict[str, list[Any]]:
    """A grid of at least ``combinations`` specs: fast x slow SMA periods x stop-loss percentages."""
    stops = [1.0, 2.0, 3.0, 4.0]
    side = max(2, int((combinations / len(stops)) ** 0.5) + 1)
    fast = list(range(5, 5 + 2 * side, 2))
    slow = list(range(40, 40 + 5 * side, 5))
    return {"indicators.fast.period": fast, "indicators.slow.period": slow, "money.stop_loss_pct": stops}


async def run(args: argparse.Namespace, url: str, log_path: Path, specs: list[Any]) -> dict[str, Any]:
    pool = await open_pool(url, min_size=1, max_size=4)
    try:
        queue = JobQueue(pool)
        user = await seed_user(pool, "bench")
        dataset = await insert_dataset(pool, user, "bench", synthetic_ohlcv(args.bars, seed=42))
        jobs = []
        for spec in specs:
            config = decode_backtest_config({"dataset_id": str(dataset.id), "strategy": spec})
            config_hash = config_content_hash(config.strategy, dataset.content_hash)
            jobs.append(QueuedJob(config=config, config_hash=config_hash))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        command = [sys.executable, "-m", cli.__name__, "--database-url", url,
                   "--concurrency", str(args.slots), "--name", "bench"]  # fmt: skip
        if args.sweep_batch is not None:
            command += ["--sweep-batch", str(args.sweep_batch)]
        worker = start_worker(command, env, log_path)
        try:
            # The clock starts once the worker's backtest processes are up (as on a running platform).
            while not any(r.get("event") == "worker.started" for r in read_log(log_path)):
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited early with {worker.returncode}; see {log_path}")
                await asyncio.sleep(0.1)
            submitted = time.perf_counter()
            bundle_id = uuid.uuid4()
            await queue.create_bundle(user, bundle_id, jobs, name="bench", rank_by="sharpe", request={}, reuse=False)
            submit_seconds = time.perf_counter() - submitted
            while True:
                counts = await queue.counts_by_status()
                if counts.get("pending", 0) == 0 and counts.get("running", 0) == 0:
                    break
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited early with {worker.returncode}; see {log_path}")
                await asyncio.sleep(0.05)
            async with pool.connection() as conn:
                ranked = await (await conn.execute(RANKED, {"id": bundle_id})).fetchall()
            elapsed = time.perf_counter() - submitted
        finally:
            worker.send_signal(signal.SIGTERM)
            await asyncio.to_thread(worker.wait, 120)
        return {"elapsed": elapsed, "submit": submit_seconds, "counts": counts, "ranked": ranked}
    finally:
        await pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--combinations", type=int, default=1000)
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--database-url", default=os.environ.get("BACKTEST_DATABASE_URL", ""))
    parser.add_argument(
        "--sweep-batch", type=int, help="the worker's --sweep-batch (default: its own; 1 runs every child alone)"
    )
    args = parser.parse_args()

    specs = expand_grid(decode_strategy(STRATEGY_B_EXAMPLE), grid(args.combinations))[: args.combinations]
    data = synthetic_ohlcv(args.bars, seed=42)
    started = time.perf_counter()
    run_sweep(data, specs)
    sweep_seconds = time.perf_counter() - started
    builtins = [strategy_to_builtins(spec) for spec in specs]
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp, database(args.database_url or None) as url:
        log_path = Path(tmp) / "worker.log"
        outcome = asyncio.run(run(args, url, log_path, builtins))
        records = read_log(log_path)
    run_ms = sorted(r["run_ms"] for r in records if r.get("event") == "job.succeeded" and "run_ms" in r)
    print(f"bundle of {len(specs)} strategy-B variants over {args.bars} bars; worker slots: {args.slots}")
    print(f"final states: {outcome['counts']}")
    print(f"run_sweep in this process (1 core): {sweep_seconds:.2f} s")
    print(f"platform, submit to ranked results: {outcome['elapsed']:.2f} s "
          f"({outcome['elapsed'] / sweep_seconds:.2f}x run_sweep on one core)")  # fmt: skip
    if run_ms:
        print(f"per child: engine (in the backtest process) median {run_ms[len(run_ms) // 2]:.2f} ms")
        print(f"where the time goes: submitting the bundle {outcome['submit']:.2f} s; "
              f"engine (run + summary) {sum(run_ms) / 1000:.2f} s over {args.slots} slots")  # fmt: skip
    stopped = [r for r in records if r.get("event") == "worker.stopped"]
    if stopped:
        by_call = stopped[-1].get("queue_seconds_by_call", {})
        calls = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in sorted(by_call.items()))
        print(f"worker's queue round trips: {calls}; children claimed in batches: {stopped[-1].get('batched')}")
    return 0 if outcome["counts"].get("succeeded", 0) == len(specs) else 1


if __name__ == "__main__":
    sys.exit(main())
