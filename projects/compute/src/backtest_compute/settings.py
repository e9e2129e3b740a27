"""The worker's configuration: every option is a CLI flag and an environment variable.

Flags win over environment variables, which win over defaults, so a container
can be configured through its environment and a developer can still override
one value on the command line.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backtest_shared.db.urls import DATABASE_URL_ENV


def default_concurrency(cpu_count: int | None = None) -> int:
    """CPU count minus two (room for the I/O loop and a co-located database), at least one."""
    cpus = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(1, cpus - 2)


@dataclass(frozen=True)
class WorkerSettings:
    """Everything a worker needs to know; see docs/compute.md, 'Configuration'."""

    database_url: str
    concurrency: int
    name: str
    poll_interval: float = 5.0
    lease_seconds: float = 30.0
    heartbeat_interval: float = 10.0
    shutdown_grace: float = 30.0
    reap_interval: float = 5.0
    progress_interval: float = 1.0
    retry_backoff_base: float = 2.0
    retry_backoff_cap: float = 300.0
    dataset_cache_bytes: int = 512 * 1024 * 1024
    log_level: str = "INFO"
    #: "off" trades durability of the worker's own writes for speed (see db.pool.open_pool).
    synchronous_commit: bool = True

    def __post_init__(self) -> None:
        if not self.database_url:
            raise ValueError(f"a database URL is required (--database-url or {DATABASE_URL_ENV})")
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
        for field, value in positive.items():
            if value <= 0:
                raise ValueError(f"{field} must be positive")
        if self.heartbeat_interval >= self.lease_seconds:
            raise ValueError("heartbeat_interval must be shorter than lease_seconds")
        if self.shutdown_grace < 0:
            raise ValueError("shutdown_grace must not be negative")
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        if self.dataset_cache_bytes < 0:
            raise ValueError("dataset_cache_bytes must not be negative")


def _on_off(text: str) -> bool:
    value = text.strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"expected on or off, got {text!r}")


@dataclass(frozen=True)
class _Option:
    flag: str
    env: str
    parse: Callable[[str], Any]
    help: str


_OPTIONS: dict[str, _Option] = {
    "database_url": _Option("--database-url", DATABASE_URL_ENV, str, "PostgreSQL URL (required)"),
    "concurrency": _Option(
        "--concurrency", "BACKTEST_WORKER_CONCURRENCY", int, "backtests run at once (default: CPUs - 2, at least 1)"
    ),
    "name": _Option("--name", "BACKTEST_WORKER_NAME", str, "name in the worker registry (default: host:pid)"),
    "poll_interval": _Option(
        "--poll-interval", "BACKTEST_POLL_INTERVAL", float, "seconds between polls when no NOTIFY arrives (5)"
    ),
    "lease_seconds": _Option("--lease-seconds", "BACKTEST_LEASE_SECONDS", float, "lease length in seconds (30)"),
    "heartbeat_interval": _Option(
        "--heartbeat-interval", "BACKTEST_HEARTBEAT_INTERVAL", float, "seconds between heartbeats (lease / 3)"
    ),
    "shutdown_grace": _Option(
        "--shutdown-grace", "BACKTEST_SHUTDOWN_GRACE", float, "seconds running jobs may finish after SIGTERM (30)"
    ),
    "reap_interval": _Option(
        "--reap-interval", "BACKTEST_REAP_INTERVAL", float, "seconds between reaper passes (5)"
    ),
    "progress_interval": _Option(
        "--progress-interval", "BACKTEST_PROGRESS_INTERVAL", float, "seconds between progress writes (1)"
    ),
    "retry_backoff_base": _Option(
        "--retry-backoff-base", "BACKTEST_RETRY_BACKOFF_BASE", float, "first retry delay of a failed job (2)"
    ),
    "retry_backoff_cap": _Option(
        "--retry-backoff-cap", "BACKTEST_RETRY_BACKOFF_CAP", float, "longest retry delay of a failed job (300)"
    ),
    "dataset_cache_bytes": _Option(
        "--dataset-cache-mb",
        "BACKTEST_DATASET_CACHE_MB",
        lambda text: int(float(text) * 1024 * 1024),
        "per-process dataset cache size in MiB (512)",
    ),
    "log_level": _Option("--log-level", "BACKTEST_LOG_LEVEL", str.upper, "DEBUG, INFO, WARNING or ERROR (INFO)"),
    "synchronous_commit": _Option(
        "--synchronous-commit",
        "BACKTEST_WORKER_SYNCHRONOUS_COMMIT",
        _on_off,
        "on|off: off lets the worker's commits skip the WAL flush; a database crash then re-runs "
        "the last few jobs, never loses or double-writes one (on)",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backtest-compute",
        description="Claim backtest jobs from PostgreSQL and run them. Every flag has an environment variable.",
    )
    for dest, option in _OPTIONS.items():
        parser.add_argument(option.flag, dest=dest, default=None, help=f"{option.help} [env {option.env}]")
    return parser


def parse_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> WorkerSettings:
    """Settings from flags, then environment variables, then defaults; ValueError when invalid."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = {}
    for dest, option in _OPTIONS.items():
        raw = getattr(args, dest)
        if raw is None:
            raw = env.get(option.env, "").strip() or None
        if raw is None:
            continue
        try:
            values[dest] = option.parse(raw)
        except ValueError:
            raise ValueError(f"{option.flag} / {option.env}: cannot parse {raw!r}") from None
    values.setdefault("database_url", "")
    values.setdefault("concurrency", default_concurrency())
    values.setdefault("name", f"{socket.gethostname()}:{os.getpid()}")
    lease = values.get("lease_seconds", WorkerSettings.lease_seconds)
    values.setdefault("heartbeat_interval", lease / 3)
    return WorkerSettings(**values)
