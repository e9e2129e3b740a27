"""Starting the API and the worker as child processes, and stopping them in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


def child_env(database_url: str) -> dict[str, str]:
    """This interpreter's environment and import path (works from a PEX and from a source checkout)."""
    env = dict(os.environ)
    env["BACKTEST_DATABASE_URL"] = database_url
    env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own: Ctrl-C reaches only this process, which then stops children in order.
    return subprocess.Popen([sys.executable, "-m", *args], env=env, start_new_session=True)


def stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_ready(url: str, timeout: float, watch: list[subprocess.Popen[bytes]]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in watch):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False
