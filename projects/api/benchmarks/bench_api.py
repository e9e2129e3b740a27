"""Load test of the API (not a test): single submits at a fixed rate and at maximum rate, then one big bundle.

    python projects/api/benchmarks/bench_api.py --database-url postgresql://postgres@127.0.0.1:5432/postgres \
        --pex dist/projects.api.src.backtest_api/api.pex --workers 2 --duration 30 --rate 1500

It creates a fresh database on that server, migrates it, creates ``--users`` users (each with a
key and a dataset; submits rotate over them, as on a platform with many users), starts the API
(the PEX, or ``python -m backtest_api.cli`` without ``--pex``) with ``--workers`` processes, and
drives it: the fixed-rate phase with ``h2load`` when it is installed (``apt-get install
nghttp2-client``), the maximum-rate phase with ``wrk`` (``apt-get install wrk``), else with a
minimal keep-alive HTTP/1.1 client in Python (asyncio streams on uvloop), which takes a large
share of a 2-core machine's CPU from the server it measures. No compute
worker runs: jobs stay pending.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import psycopg
import uvloop

from backtest_api.accounts.repository import create_user
from backtest_api.accounts.repository import issue_key
from backtest_migrations import runner
from backtest_shared.datasets.store import insert_dataset
from backtest_shared.db.pool import open_pool
from backtest_shared.db.urls import psycopg_url
from backtest_shared.db.urls import with_database
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import synthetic_ohlcv


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port, self.key = host, port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"", key: str | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {key or self.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def submit_body(dataset_id: str, i: int) -> bytes:
    strategy = {**STRATEGY_A_EXAMPLE, "name": f"bench-{i}"}
    return json.dumps({"dataset_id": dataset_id, "strategy": strategy}).encode()


async def fixed_rate(
    host: str, port: int, pairs: list[tuple[str, str]], rate: float, duration: float, conns: int
) -> dict:
    """Open loop: requests are scheduled at ``rate``/s; latency counts from the scheduled time."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(Connection(host, port, pairs[0][0]))
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    total = int(rate * duration)

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            key, dataset_id = pairs[i % len(pairs)]
            status, _ = await conn.request("POST", "/api/v1/backtests", submit_body(dataset_id, i), key)
            if status != 202:
                errors += 1
        finally:
            pool.put_nowait(conn)
        latencies.append(time.perf_counter() - scheduled)

    tasks = []
    for i in range(total):
        scheduled = started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    return summary("fixed rate", latencies, errors, elapsed, target=rate)


async def max_rate(host: str, port: int, key: str, dataset_id: str, duration: float, conns: int) -> dict:
    """Closed loop: ``conns`` connections each submit back to back."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    counter = iter(range(10**9, 2 * 10**9))

    async def loop() -> None:
        nonlocal errors
        conn = Connection(host, port, key)
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            status, _ = await conn.request("POST", "/api/v1/backtests", submit_body(dataset_id, next(counter)))
            latencies.append(time.perf_counter() - t0)
            if status != 202:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(conns)))
    return summary("max rate", latencies, errors, time.perf_counter() - started)


def summary(name: str, latencies: list[float], errors: int, elapsed: float, target: float | None = None) -> dict:
    return {
        "phase": name,
        "target_rps": target,
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
    }


async def big_bundle(host: str, port: int, key: str, dataset_id: str) -> dict:
    grid = {"indicators.fast.period": list(range(2, 102)), "indicators.slow.period": list(range(110, 210))}
    body = json.dumps({"dataset_id": dataset_id, "base": STRATEGY_A_EXAMPLE, "grid": grid}).encode()
    conn = Connection(host, port, key)
    t0 = time.perf_counter()
    status, payload = await conn.request("POST", "/api/v1/bundles", body)
    elapsed = time.perf_counter() - t0
    return {"phase": "bundle of 10,000", "status": status, "seconds": round(elapsed, 3), "answer": json.loads(payload)}


async def seed(url: str, users: int) -> list[tuple[str, str]]:
    """Users with one API key and one dataset each: (key, dataset id) pairs."""
    pool = await open_pool(url, min_size=1, max_size=1)
    data = synthetic_ohlcv(2000, seed=1)
    pairs = []
    try:
        for _ in range(users):
            name = f"bench-{secrets.token_hex(4)}"
            create_user(url, name, max_pending_jobs=10_000_000)
            key = issue_key(url, name)
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT id FROM users WHERE name = %s", (name,))
                row = await cur.fetchone()
            assert row is not None
            dataset = await insert_dataset(pool, row[0], "bench", data)
            pairs.append((key, str(dataset.id)))
    finally:
        await pool.close()
    return pairs


def h2load_fixed_rate(port: int, pairs: list[tuple[str, str]], rate: float, duration: float, conns: int) -> dict:
    """Fixed rate with h2load (C; ``apt-get install nghttp2-client``): ``conns`` connections spread over
    up to 8 processes, each process one user's key, each connection sending ``rate / conns`` requests/s.

    Latency counts from each request's send (h2load's per-request log). An HTTP/1.1 connection waits
    for a response before its next request, so a server falling behind lowers the rate served instead
    of growing a backlog: read the served rate next to the target.
    """
    processes = min(8, len(pairs), conns)
    per_process = [conns // processes + (1 if i < conns % processes else 0) for i in range(processes)]
    logs, running = [], []
    for i, clients in enumerate(per_process):
        key, dataset_id = pairs[i]
        body = tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False)
        body.write(submit_body(dataset_id, i))
        body.close()
        log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
        log.close()
        logs.append((body.name, log.name))
        command = [
            "h2load", "--h1", "-c", str(clients), "--rps", f"{rate / conns:.3f}", "-D", str(int(duration)),
            "-d", body.name, "-H", f"Authorization: Bearer {key}", "-H", "Content-Type: application/json",
            "--log-file", log.name, f"http://127.0.0.1:{port}/api/v1/backtests",
        ]  # fmt: skip
        running.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
    for process in running:
        process.wait()
    latencies: list[float] = []
    errors = 0
    first, last = float("inf"), 0.0
    for body_name, log_name in logs:
        with open(log_name) as log_file:
            for line in log_file:
                start_us, status, took_us = line.split()[:3]
                latencies.append(int(took_us) / 1e6)
                errors += status != "202"
                first = min(first, int(start_us) / 1e6)
                last = max(last, (int(start_us) + int(took_us)) / 1e6)
        os.unlink(body_name)
        os.unlink(log_name)
    return summary(f"fixed rate (h2load, {conns} connections)", latencies, errors, last - first, target=rate)


def wrk_max_rate(port: int, pairs: list[tuple[str, str]], duration: float, conns: int) -> dict:
    """Closed loop with wrk (C, cheap on a 2-core machine), rotating over the users."""
    lines = ["keys = {}", "bodies = {}"]
    for i, (key, dataset_id) in enumerate(pairs, start=1):
        lines.append(f'keys[{i}] = "{key}"')
        lines.append(f"bodies[{i}] = [[{submit_body(dataset_id, i).decode()}]]")
    lines.append(
        "counter = 0\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        f"  local i = (counter % {len(pairs)}) + 1\n"
        '  return wrk.format("POST", "/api/v1/backtests", {["Content-Type"] = "application/json", '
        '["Authorization"] = "Bearer " .. keys[i]}, bodies[i])\n'
        "end\n"
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("JSON {\\"requests\\": %d, \\"errors\\": %d, \\"seconds\\": %f, '
        '\\"p50_ms\\": %f, \\"p99_ms\\": %f, \\"mean_ms\\": %f}\\n", summary.requests, '
        "summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + "
        "summary.errors.timeout, summary.duration / 1e6, latency:percentile(50) / 1000, "
        "latency:percentile(99) / 1000, latency.mean / 1000))\n"
        "end\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines))
    command = ["wrk", "-t1", f"-c{conns}", f"-d{int(duration)}s", "-s", script.name, f"http://127.0.0.1:{port}/"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    stats = json.loads(next(line[5:] for line in output.splitlines() if line.startswith("JSON ")))
    return {
        "phase": f"max rate (wrk, {conns} connections)",
        "requests": stats["requests"],
        "errors": stats["errors"],
        "rps": round(stats["requests"] / stats["seconds"], 1),
        "p50_ms": round(stats["p50_ms"], 2),
        "p99_ms": round(stats["p99_ms"], 2),
        "mean_ms": round(stats["mean_ms"], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BACKTEST_DATABASE_URL"), required=False)
    parser.add_argument("--pex", help="the API PEX (default: python -m backtest_api.cli)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1500.0)
    parser.add_argument(
        "--connections",
        type=int,
        default=32,
        help=(
            "connections of the fixed-rate phase (h2load starts them together, each on its own timer, so "
            "their requests tend to arrive in step: far more connections than the rate needs inflate p99 "
            "with bursts the benchmark makes itself)"
        ),
    )
    parser.add_argument("--pool-max-size", type=int, default=10)
    parser.add_argument("--users", type=int, default=100, help="submitters (each with a key and a dataset)")
    parser.add_argument(
        "--max-rate-connections", type=int, default=16, help="connections of the closed-loop (max rate) phase"
    )
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url or BACKTEST_DATABASE_URL is required")

    admin = psycopg_url(args.database_url)
    db = f"bench_api_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')  # type: ignore[arg-type]
    url = with_database(admin, db)
    runner.upgrade(url)
    pairs = asyncio.run(seed(url, args.users))
    key, dataset_id = pairs[0]

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    if args.pex:  # a packed PEX is a directory: run it with a Python 3.11
        command = [sys.executable, args.pex] if os.path.isdir(args.pex) else [args.pex]
    else:
        command = [sys.executable, "-m", "backtest_api.cli"]
    env = {
        **os.environ,
        "BACKTEST_DATABASE_URL": url,
        "BACKTEST_POOL_MAX_SIZE": str(args.pool_max_size),
    }
    if not args.pex:
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    server = subprocess.Popen([*command, "serve", "--port", str(port), "--workers", str(args.workers)], env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the API did not start")
            time.sleep(0.2)
        time.sleep(1.0)  # let every worker process finish starting
        if shutil.which("wrk"):
            peak = wrk_max_rate(port, pairs, args.duration, args.max_rate_connections)
        else:  # the Python client costs a core of its own: install wrk (Debian package) for a fair figure
            peak = asyncio.run(max_rate("127.0.0.1", port, key, dataset_id, args.duration, args.max_rate_connections))
        if shutil.which("h2load"):
            steady = h2load_fixed_rate(port, pairs, args.rate, args.duration, args.connections)
        else:  # the Python client shares the two cores with the server: install nghttp2-client
            steady = uvloop.run(fixed_rate("127.0.0.1", port, pairs, args.rate, args.duration, args.connections))
        results = [
            steady,
            peak,
            asyncio.run(big_bundle("127.0.0.1", port, key, dataset_id)),
        ]
        for result in results:
            print(json.dumps(result))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
