import json
import subprocess
import tempfile
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from backtest_local.postgres import HANDLES_FILE
from backtest_local.postgres import LocalPostgres


def _postmaster(data_dir: Path) -> psutil.Process:
    return psutil.Process(int((data_dir / "postmaster.pid").read_text().split()[0]))


def test_postgres_stops_with_the_platform_even_after_an_earlier_run_was_killed_hard() -> None:
    # Regression: pgserver kept the pid of a run killed hard in its handle list, so
    # every later run printed "Stopped." and left PostgreSQL running.
    # (A directory directly in /tmp: pgserver's server user must be able to reach it.)
    with tempfile.TemporaryDirectory(prefix="btlocal-", dir="/tmp") as tmp:
        _check_stops_after_a_killed_run(Path(tmp))


def _check_stops_after_a_killed_run(data_dir: Path) -> None:
    LocalPostgres(data_dir).stop()  # a first run creates the cluster
    killed_run = subprocess.Popen(["true"])
    killed_run.wait()
    (data_dir / HANDLES_FILE).write_text(json.dumps([killed_run.pid]))

    postgres = LocalPostgres(data_dir)
    postmaster = _postmaster(data_dir)
    assert postmaster.is_running()
    postgres.stop()

    deadline = time.monotonic() + 30
    while postmaster.is_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not postmaster.is_running()
