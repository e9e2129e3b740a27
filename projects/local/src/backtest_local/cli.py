"""``platform``: start the whole backtest platform on this machine; Ctrl-C stops it.

Embedded PostgreSQL (data in ``--data-dir``; ``--help`` lists every option), migrations to head,
the API, one compute worker, a demo user with an API key and a demo dataset. A second run
reuses the data folder (same database, same demo key).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

from backtest_local import processes
from backtest_local.demo import ensure_demo_dataset
from backtest_local.demo import ensure_demo_key
from backtest_local.postgres import LocalPostgres
from backtest_local.settings import parse_settings
from backtest_migrations import runner


def _banner(base: str, key: str, dataset_id: object, data_dir: Path) -> str:
    example = (
        f"curl -s -X POST {base}/api/v1/backtests -H 'Authorization: Bearer {key}' "
        f'-H \'Content-Type: application/json\' -d \'{{"dataset_id": "{dataset_id}", "strategy": {{"name": '
        '"sma", "indicators": {"fast": {"kind": "sma", "period": 10}, "slow": {"kind": "sma", "period": 50}}, '
        '"entry": {"conditions": [{"kind": "crosses_above", "left": "fast", "right": "slow"}]}, '
        '"exit": {"conditions": [{"kind": "crosses_below", "left": "fast", "right": "slow"}]}}}\''
    )
    return "\n".join(
        [
            "",
            "Backtest platform is running.",
            f"  API:           {base}/api/v1",
            f"  API docs:      {base}/docs",
            f"  Health:        {base}/health/ready",
            f"  Metrics:       {base}/metrics",
            f"  Demo API key:  {key}",
            f"  Demo dataset:  {dataset_id}",
            f"  Data folder:   {data_dir}",
            "",
            "Try:",
            f"  {example}",
            "",
            "Press Ctrl-C to stop.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_settings(argv, description=__doc__.splitlines()[0])
    except ValueError as exc:
        print(f"platform: {exc}", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir).resolve()
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    print(f"Starting PostgreSQL (data in {data_dir / 'postgres'}) ...", flush=True)
    postgres = LocalPostgres(data_dir / "postgres")
    children: list[subprocess.Popen[bytes]] = []
    worker: processes.Restarting | None = None
    exit_code = 0
    try:
        database_url = postgres.database_url()
        print("Migrating the database to head ...", flush=True)
        runner.upgrade(database_url)
        key = ensure_demo_key(database_url, data_dir)
        dataset_id = ensure_demo_dataset(database_url)
        env = processes.child_env(database_url)
        api = processes.start(["backtest_api.cli", "serve", "--host", args.host, "--port", str(args.port)], env)
        children = [api]
        worker = processes.Restarting(
            "compute worker",
            ["backtest_compute.cli", "--concurrency", str(args.concurrency), "--name", "local-worker"],
            env,
        )
        base = f"http://{args.host}:{args.port}"
        if not processes.wait_ready(f"{base}/health/ready", 60, [api]):
            code = api.poll()
            why = f"exited with code {code}" if code is not None else "did not answer /health/ready within 60 s"
            print(f"The API {why} (its log lines above say why); stopping.", file=sys.stderr)
            return 1
        print(_banner(base, key, dataset_id, data_dir), flush=True)
        while not stop_requested.wait(0.5):
            line = worker.poll()
            if line:
                print(line, file=sys.stderr, flush=True)
            if api.poll() is not None:
                print(f"The API exited with code {api.returncode}; stopping.", file=sys.stderr)
                exit_code = 1
                break
    finally:
        print("Stopping the worker, the API and PostgreSQL ...", flush=True)
        if worker is not None:
            processes.stop(worker.process, 45.0)
        for child in children:
            processes.stop(child, 15.0)
        postgres.stop()
        print("Stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
