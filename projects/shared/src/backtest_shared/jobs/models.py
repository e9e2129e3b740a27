"""Values the queue hands out and takes in (plain msgspec structs, no ORM state)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from typing import Literal

import msgspec

from backtest_shared.jobs.config import BacktestConfig


class QueuedJob(msgspec.Struct, frozen=True, kw_only=True):
    """A validated job to enqueue; ``config_hash`` identifies its result."""

    config: BacktestConfig
    config_hash: str


class SingleSubmit(msgspec.Struct, frozen=True, kw_only=True):
    """One request's job, for ``JobQueue.enqueue_each`` (options as in ``enqueue_reusing``)."""

    id: uuid.UUID
    owner_id: uuid.UUID
    job: QueuedJob
    priority: int = 0
    max_attempts: int = 3
    timeout_seconds: int = 3600
    max_pending: int | None = None
    reuse: bool = True


class SubmitOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What became of a ``SingleSubmit``: 'limited' means refused, nothing written."""

    id: uuid.UUID
    status: Literal["queued", "reused", "limited"]
    reused_from: uuid.UUID | None = None


class ClaimedJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job a worker now holds; every later write must quote ``lease_token``."""

    id: uuid.UUID
    lease_token: int
    attempt: int
    max_attempts: int
    owner_id: uuid.UUID
    bundle_id: uuid.UUID | None
    dataset_id: uuid.UUID
    #: The config as stored, JSON text: the worker passes it on without parsing it.
    config_json: str
    timeout_seconds: int
    priority: int = 0

    @property
    def config(self) -> dict[str, Any]:
        """The config, parsed."""
        config: dict[str, Any] = msgspec.json.decode(self.config_json)
        return config


class Lease(msgspec.Struct, frozen=True):
    """The fencing pair naming one claim of one job."""

    job_id: uuid.UUID
    token: int


class JobOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A successful run's result in its JSON form; stored as compact columns
    (``backtest_shared.results``), so each trade must carry every field of one."""

    lease: Lease
    metrics: dict[str, Any]
    equity_curve: list[Any]
    trades: list[Any]


class HeartbeatReply(msgspec.Struct, frozen=True, kw_only=True):
    """What a heartbeat learned: jobs still held, and which of those to stop."""

    held: frozenset[uuid.UUID]
    cancel_requested: frozenset[uuid.UUID]


class JobState(msgspec.Struct, frozen=True, kw_only=True):
    """A job row as stored."""

    id: uuid.UUID
    owner_id: uuid.UUID
    bundle_id: uuid.UUID | None
    dataset_id: uuid.UUID
    priority: int
    config: dict[str, Any]
    config_hash: str
    status: str
    attempts: int
    max_attempts: int
    timeout_seconds: int
    run_after: dt.datetime
    worker_id: uuid.UUID | None
    lease_token: int | None
    lease_expires_at: dt.datetime | None
    progress: float
    cancel_requested: bool
    error: str | None
    reused_from: uuid.UUID | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class StoredResult(msgspec.Struct, frozen=True, kw_only=True):
    metrics: dict[str, Any]
    equity_curve: list[Any]
    trades: list[Any]


class WorkerInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A compute worker's registry entry."""

    id: uuid.UUID
    name: str
    host: str
    pid: int
    version: str
    slots: int
