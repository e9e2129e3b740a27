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


class Restarting:
    """A child process started again, with a growing delay, whenever it exits.

    The local worker exits only for what a restart can fix; a worker that
    crash-loops is restarted at most every ``max_delay`` seconds, and the delay
    falls back to ``min_delay`` once it has stayed up for ``stable_after``.
    """

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        *,
        min_delay: float = 1.0,
        max_delay: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        self.name = name
        self._args = args
        self._env = env
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._stable_after = stable_after
        self._delay = min_delay
        self._restart_at: float | None = None
        self._started = time.monotonic()
        self.process = start(args, env)
        self.restarts = 0

    def poll(self) -> str | None:
        """Check on the child: restart it when due; returns a line to print, if any."""
        now = time.monotonic()
        if self._restart_at is not None:
            if now < self._restart_at:
                return None
            self._restart_at = None
            self.process = start(self._args, self._env)
            self._started = now
            self.restarts += 1
            return f"Restarting the {self.name} (restart {self.restarts}) ..."
        code = self.process.poll()
        if code is None:
            return None
        if now - self._started >= self._stable_after:
            self._delay = self._min_delay
        self._restart_at = now + self._delay
        line = (
            f"The {self.name} exited with code {code} (its last log lines above say why); "
            f"starting it again in {self._delay:g} s."
        )
        self._delay = min(self._delay * 2, self._max_delay)
        return line


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
