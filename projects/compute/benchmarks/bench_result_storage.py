"""What one result costs to make and to store: the JSON form against the compact columns, side by side.

Run: ./pants run projects/compute/benchmarks/bench_result_storage.py -- --results 300

For one strategy-B result over ``--bars`` bars, alternating the two forms in
every round:

* CPU time to encode (``time.process_time``, so other load on the machine
  does not count): the JSON form as the worker stored it before (``to_stored``
  then msgspec JSON of metrics, curve and trades) and the compact form
  (``encode_result``); both include downsampling the curve;
* bytes on the wire and on disk per result, and the time of one insert per
  result, each form into its own table shaped as ``job_results`` was before
  and after migration 0011 (JSON columns with lz4 where the server has it, and
  ``bytea`` with STORAGE EXTERNAL).

Database: a scratch database on the server named by BACKTEST_DATABASE_URL /
``--database-url`` (embedded PostgreSQL by default), dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

import msgspec
import psycopg
from bench_worker import database

from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import BacktestResult
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.results import encode_result

TABLES = """
CREATE TABLE bench_json (config_hash text, job_id uuid, metrics jsonb, equity_curve json, trades json,
                         PRIMARY KEY (config_hash, job_id));
CREATE TABLE bench_compact (config_hash text, job_id uuid, metrics jsonb, detail bytea,
                            PRIMARY KEY (config_hash, job_id));
ALTER TABLE bench_compact ALTER COLUMN detail SET STORAGE EXTERNAL;
"""
LZ4 = "ALTER TABLE bench_json ALTER COLUMN equity_curve SET COMPRESSION lz4, ALTER COLUMN trades SET COMPRESSION lz4"
INSERT_JSON = "INSERT INTO bench_json VALUES (%s, %s, %s::jsonb, %s::json, %s::json)"
INSERT_COMPACT = "INSERT INTO bench_compact VALUES (%s, %s, %s::jsonb, %s)"


def fresh(result: BacktestResult) -> BacktestResult:
    """A new result over the same arrays (the JSON form caches its trade objects)."""
    r = result
    return BacktestResult(r.metrics, r.equity, r.timestamps, r.schedule, r.trade_size, r.trade_pnl, r.trade_return_pct)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=300)
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("BACKTEST_DATABASE_URL", ""))
    args = parser.parse_args()
    result = run_backtest(synthetic_ohlcv(args.bars, seed=42), decode_strategy(STRATEGY_B_EXAMPLE))
    cpu: dict[str, list[float]] = {"json": [], "compact": []}
    insert: dict[str, list[float]] = {"json": [], "compact": []}
    wire: dict[str, int] = {}
    with database(args.database_url or None) as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLES)
        try:
            conn.execute(LZ4)
            compression = "lz4"
        except psycopg.errors.FeatureNotSupported:
            compression = "none (server without lz4)"
        for i in range(args.results):
            key = f"hash-{i}"
            started = time.process_time()
            stored = fresh(result).to_stored()
            encoded = [msgspec.json.encode(v).decode() for v in (stored.metrics, stored.equity_curve, stored.trades)]
            cpu["json"].append((time.process_time() - started) * 1000)
            wire["json"] = sum(len(e) for e in encoded)
            started = time.perf_counter()
            conn.execute(INSERT_JSON, (key, uuid.uuid4(), *encoded))
            insert["json"].append((time.perf_counter() - started) * 1000)

            started = time.process_time()
            compact = encode_result(fresh(result))
            cpu["compact"].append((time.process_time() - started) * 1000)
            wire["compact"] = len(compact.metrics_json) + len(compact.detail)
            started = time.perf_counter()
            conn.execute(INSERT_COMPACT, (key, uuid.uuid4(), compact.metrics_json, compact.detail))
            insert["compact"].append((time.perf_counter() - started) * 1000)
        sizes = {
            name: conn.execute(f"SELECT pg_total_relation_size('bench_{name}')").fetchone()[0]  # type: ignore[index]
            for name in ("json", "compact")
        }
    print(f"one strategy-B result over {args.bars} bars: {result.metrics.num_trades} trades; "
          f"{args.results} rounds, forms alternating; JSON columns' compression: {compression}")  # fmt: skip
    header = f"{'form':<10}{'encode CPU ms (median)':>24}{'bytes sent':>12}{'bytes on disk':>15}"
    print(f"{header}{'insert ms (median)':>20}")
    for name in ("json", "compact"):
        print(f"{name:<10}{statistics.median(cpu[name]):>24.2f}{wire[name]:>12,}"
              f"{sizes[name] / args.results:>15,.0f}{statistics.median(insert[name]):>20.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
