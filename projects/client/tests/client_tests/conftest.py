"""A real platform for the client's tests: PostgreSQL, the API and a compute worker as processes.

One platform per test module (starting it takes seconds); each test gets its own user, so tests
never see each other's datasets or backtests.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from backtest_api.accounts.repository import create_user
from backtest_api.accounts.repository import issue_key
from backtest_testing.postgres import fresh_database

pytest_plugins = ["backtest_testing.fixtures"]


@dataclass(frozen=True)
class Platform:
    url: str
    database_url: str

    def new_key(self) -> str:
        """A fresh user's API key."""
        name = f"quant-{secrets.token_hex(4)}"
        create_user(self.database_url, name)
        return issue_key(self.database_url, name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(args: list[str], database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BACKTEST_DATABASE_URL": database_url, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen([sys.executable, "-m", *args], env=env)


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@pytest.fixture(scope="module")
def platform(postgres_admin_url: str, migrated_template: str) -> Iterator[Platform]:
    with fresh_database(postgres_admin_url, migrated_template) as database_url:
        port = _free_port()
        api = _start(["backtest_api.cli", "serve", "--port", str(port)], database_url)
        worker = _start(["backtest_compute.cli", "--concurrency", "2", "--name", "client-tests"], database_url)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert api.poll() is None and worker.poll() is None, "a platform process died while starting"
                try:
                    if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the API did not become ready"
                time.sleep(0.2)
            yield Platform(url=url, database_url=database_url)
        finally:
            _stop(worker)
            _stop(api)
