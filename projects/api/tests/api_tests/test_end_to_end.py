"""The API and a compute worker as real processes: a 200-backtest bundle submitted over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import msgspec
import pytest

from api_tests.conftest import make_caller
from api_tests.helpers import csv_bytes
from api_tests.helpers import free_port
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import load_csv
from backtest_shared.engine import run_backtest
from backtest_shared.engine import synthetic_ohlcv


def _start(args: list[str], database_url: str) -> subprocess.Popen:
    env = {**os.environ, "BACKTEST_DATABASE_URL": database_url, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen([sys.executable, "-m", *args], env=env)


def _stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@pytest.fixture
def platform(database_url):
    port = free_port()
    api = _start(["backtest_api.cli", "serve", "--port", str(port)], database_url)
    worker = _start(["backtest_compute.cli", "--concurrency", "2", "--name", "e2e-worker"], database_url)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert api.poll() is None and worker.poll() is None, "a platform process died while starting"
            try:
                if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        worker_exit = _stop(worker)
        api_exit = _stop(api)
    assert worker_exit == 0
    assert api_exit == 0


def test_a_bundle_of_200_runs_to_completion_through_http(platform, database_url):
    caller = make_caller(database_url, "e2e")
    with httpx.Client(base_url=platform, headers=caller.headers, timeout=90) as client:
        upload = client.post(
            "/api/v1/datasets",
            params={"name": "e2e"},
            content=csv_bytes(synthetic_ohlcv(1000, seed=7)),
            headers={"Content-Type": "text/csv"},
        )
        assert upload.status_code == 201, upload.text
        grid = {"indicators.fast.period": list(range(2, 22)), "indicators.slow.period": list(range(30, 80, 5))}
        submitted = client.post(
            "/api/v1/bundles",
            json={"dataset_id": upload.json()["id"], "base": STRATEGY_A_EXAMPLE, "grid": grid, "rank_by": "sharpe"},
            headers={"Idempotency-Key": "e2e-bundle"},
        )
        assert submitted.status_code == 202, submitted.text
        assert submitted.json()["total_jobs"] == 200
        location = submitted.headers["location"]

        deadline = time.monotonic() + 240
        bundle = client.get(location, params={"wait": 30, "top": 5}).json()
        while not bundle["finished"] and time.monotonic() < deadline:
            bundle = client.get(location, params={"wait": 30, "top": 5}).json()
        # The worker stored the children's summaries; opening one rebuilds its trades.
        best = bundle["best"]
        opened = client.get(f"/api/v1/backtests/{best['backtest_id']}")
        assert opened.status_code == 200, opened.text
        strategy = opened.json()["config"]["strategy"]
        as_uploaded = load_csv(csv_bytes(synthetic_ohlcv(1000, seed=7)))
        alone = run_backtest(as_uploaded, decode_strategy(strategy)).to_stored()
        assert opened.json()["result"]["trades"] == msgspec.to_builtins(alone.trades)
        assert len(opened.json()["result"]["equity_curve"]) == len(alone.equity_curve)

    assert bundle["finished"], bundle["counts"]
    assert bundle["counts"] == {"succeeded": 200}
    assert len(bundle["results"]) == 5
    sharpes = [r["metrics"]["sharpe"] for r in bundle["results"]]
    assert sharpes == sorted(sharpes, key=lambda s: -s if s is not None else float("inf"))
    assert set(bundle["best"]["parameters"]) == set(grid)
