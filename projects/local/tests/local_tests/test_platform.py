"""The one-command platform, run as a user runs it: a worker that dies is started again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from backtest_local import cli
from backtest_local.processes import Restarting


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Output:
    """The platform's combined output, read on a thread so the pipe never fills."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not printed within {timeout} s:\n{''.join(self.lines[-40:])}")
            time.sleep(0.2)


def _worker_of(platform: subprocess.Popen[str]) -> psutil.Process:
    for child in psutil.Process(platform.pid).children():
        if "backtest_compute.cli" in " ".join(child.cmdline()):
            return child
    raise AssertionError("no worker process")


def test_the_platform_starts_its_worker_again_after_it_is_killed_and_stops_cleanly() -> None:
    # (A directory directly in /tmp: pgserver's server user must be able to reach it.)
    with tempfile.TemporaryDirectory(prefix="btplatform-", dir="/tmp") as tmp:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), PYTHONUNBUFFERED="1")
        platform = subprocess.Popen(
            [sys.executable, "-m", cli.__name__, "--data-dir", tmp, "--port", str(_free_port())],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        output = _Output(platform)
        try:
            output.wait_for("Backtest platform is running.", timeout=180)
            _worker_of(platform).kill()

            output.wait_for("The compute worker exited with code -9", timeout=30)
            output.wait_for("Restarting the compute worker (restart 1)", timeout=30)
            assert _worker_of(platform).is_running()
        finally:
            platform.send_signal(signal.SIGINT)
            platform.wait(120)
        assert platform.returncode == 0, "".join(output.lines[-40:])
        assert (Path(tmp) / "postgres").is_dir()


def test_a_crash_looping_child_is_restarted_with_a_growing_delay() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    child = Restarting("probe", ["json.tool", "/nonexistent/file.json"], env, min_delay=0.1, max_delay=0.4)
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while len([line for line in lines if "exited" in line]) < 4 and time.monotonic() < deadline:
        if (line := child.poll()) is not None:
            lines.append(line)
        time.sleep(0.02)

    exits = [line for line in lines if "exited" in line]
    assert [e.split("again in ")[1] for e in exits] == ["0.1 s.", "0.2 s.", "0.4 s.", "0.4 s."]
    assert all("exited with code 2" in e for e in exits)  # argparse: no such file
    assert child.restarts >= 3
