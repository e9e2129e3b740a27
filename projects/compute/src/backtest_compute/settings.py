"""The worker's configuration: every option is a flag and a ``BACKTEST_COMPUTE_*`` variable.

Declared once below (``backtest_shared.settings``): flags win over environment
variables, which win over the defaults written here, so a container can be
configured through its environment and a developer can still override one
value on the command line. docs/compute.md's table is checked against it.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Annotated

from backtest_shared.db.urls import DATABASE_URL_ENV
from backtest_shared.jobs.retention import DEFAULT_BATCH
from backtest_shared.jobs.retention import DEFAULT_KEEP_DAYS
from backtest_shared.settings import REQUIRED
from backtest_shared.settings import Setting
from backtest_shared.settings import SettingsSchema

_MIB = 1024 * 1024


def _mib_to_bytes(text: str) -> int:
    return int(float(text) * _MIB)


def _bytes_to_mib(value: int) -> str:
    return str(value // _MIB)


def default_concurrency(cpu_count: int | None = None) -> int:
    """CPU count minus two (room for the I/O loop and a co-located database), at least one."""
    cpus = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(1, cpus - 2)


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class WorkerSettings:
    """Everything a worker needs to know; see docs/compute.md, 'Configuration'."""

    database_url: Annotated[
        str,
        Setting(
            "PostgreSQL URL (`postgresql://`, `postgres://` and `postgresql+psycopg://` accepted)",
            env=DATABASE_URL_ENV,
            default_text=REQUIRED,
        ),
    ] = ""
    concurrency: Annotated[
        int, Setting("slots = backtest processes = jobs held at once", default_text="CPUs - 2, at least 1")
    ] = field(default_factory=default_concurrency)
    name: Annotated[str, Setting("name in the worker registry", default_text="`host:pid`")] = field(
        default_factory=default_name
    )
    poll_interval: Annotated[
        float, Setting("seconds between polls when no NOTIFY arrives (also picks up retries whose backoff ran out)")
    ] = 5.0
    lease_seconds: Annotated[
        float, Setting("lease length; a silent worker's jobs are reclaimed this long after its last heartbeat")
    ] = 30.0
    #: 0 stands for a third of the lease (set in ``__post_init__``).
    heartbeat_interval: Annotated[
        float, Setting("seconds between heartbeats (must be shorter than the lease)", default_text="lease / 3")
    ] = 0.0
    shutdown_grace: Annotated[float, Setting("seconds running jobs may finish after SIGTERM")] = 30.0
    reap_interval: Annotated[
        float, Setting("seconds between reaper passes (by the one worker holding the reaper lock)")
    ] = 5.0
    progress_interval: Annotated[
        float, Setting("progress is written at most this often, in seconds (one statement for all jobs)")
    ] = 1.0
    retry_backoff_base: Annotated[float, Setting("seconds before a failed job's first retry (doubles per attempt)")] = (
        2.0
    )
    retry_backoff_cap: Annotated[float, Setting("longest retry delay, in seconds")] = 300.0
    dataset_cache_bytes: Annotated[
        int,
        Setting(
            "market-data cache per backtest process in MiB (LRU by bytes, keyed by content hash)",
            name="dataset_cache_mb",
            parse=_mib_to_bytes,
            show=_bytes_to_mib,
        ),
    ] = (
        512 * _MIB
    )
    log_level: Annotated[str, Setting("DEBUG, INFO, WARNING or ERROR", parse=str.upper)] = "INFO"
    retention_days: Annotated[
        float,
        Setting(
            "finished jobs (with their results) older than this many days are pruned by the reaper; "
            "0 keeps them forever (docs/compute.md, 'Retention')"
        ),
    ] = DEFAULT_KEEP_DAYS
    retention_batch: Annotated[int, Setting("most jobs one pruning statement deletes (one batch per reaper pass)")] = (
        DEFAULT_BATCH
    )
    sweep_batch: Annotated[
        int,
        Setting(
            "most children of one bundle a slot claims and runs together, sharing the data and indicators; "
            "1 runs every job alone (docs/compute.md, 'Sweeps run as sweeps')"
        ),
    ] = 16
    sweep_batch_seconds: Annotated[
        float,
        Setting("a batch of a bundle's children is sized to run about this long, from the bundle's measured speed"),
    ] = 1.0
    synchronous_commit: Annotated[
        bool,
        Setting(
            "`off` lets the worker's own commits (claims, heartbeats, progress, completions) return before "
            "their WAL is flushed: faster, and a PostgreSQL crash then re-runs the last few jobs (fencing "
            "keeps each result written once). Enqueues by the API always commit synchronously."
        ),
    ] = True

    def __post_init__(self) -> None:
        if not self.database_url:
            raise ValueError(f"a database URL is required (--database-url or {DATABASE_URL_ENV})")
        if self.heartbeat_interval == 0:
            object.__setattr__(self, "heartbeat_interval", self.lease_seconds / 3)
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        positive = {
            "poll_interval": self.poll_interval,
            "lease_seconds": self.lease_seconds,
            "heartbeat_interval": self.heartbeat_interval,
            "reap_interval": self.reap_interval,
            "progress_interval": self.progress_interval,
            "retry_backoff_base": self.retry_backoff_base,
            "retry_backoff_cap": self.retry_backoff_cap,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.heartbeat_interval >= self.lease_seconds:
            raise ValueError("heartbeat_interval must be shorter than lease_seconds")
        if self.shutdown_grace < 0:
            raise ValueError("shutdown_grace must not be negative")
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        if self.dataset_cache_bytes < 0:
            raise ValueError("dataset_cache_bytes must not be negative")
        if self.retention_days < 0:
            raise ValueError("retention_days must not be negative (0 keeps finished jobs forever)")
        if self.sweep_batch < 1:
            raise ValueError("sweep_batch must be at least 1 (1 turns batching off)")
        if self.sweep_batch_seconds <= 0:
            raise ValueError("sweep_batch_seconds must be positive")
        if self.retention_batch < 1:
            raise ValueError("retention_batch must be at least 1")


SCHEMA = SettingsSchema(
    WorkerSettings,
    env_prefix="BACKTEST_COMPUTE_",
    # The names these were read from before; still read, with a warning, for one release.
    renamed={
        "concurrency": "BACKTEST_WORKER_CONCURRENCY",
        "name": "BACKTEST_WORKER_NAME",
        "poll_interval": "BACKTEST_POLL_INTERVAL",
        "lease_seconds": "BACKTEST_LEASE_SECONDS",
        "heartbeat_interval": "BACKTEST_HEARTBEAT_INTERVAL",
        "shutdown_grace": "BACKTEST_SHUTDOWN_GRACE",
        "reap_interval": "BACKTEST_REAP_INTERVAL",
        "progress_interval": "BACKTEST_PROGRESS_INTERVAL",
        "retry_backoff_base": "BACKTEST_RETRY_BACKOFF_BASE",
        "retry_backoff_cap": "BACKTEST_RETRY_BACKOFF_CAP",
        "dataset_cache_bytes": "BACKTEST_DATASET_CACHE_MB",
        "log_level": "BACKTEST_LOG_LEVEL",
        "synchronous_commit": "BACKTEST_WORKER_SYNCHRONOUS_COMMIT",
    },
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backtest-compute",
        description="Claim backtest jobs from PostgreSQL and run them. Every flag has an environment variable.",
    )
    SCHEMA.add_arguments(parser)
    return parser


def parse_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> WorkerSettings:
    """Settings from flags, then environment variables, then defaults; ValueError when invalid."""
    return SCHEMA.load(build_parser().parse_args(argv), environ)
