"""Compute workers as the registry knows them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import msgspec


class Worker(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    host: str
    pid: int
    version: str
    slots: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None
    #: alive, degraded (alive, but claims or reaps keep failing), dead (no heartbeat for a while) or stopped.
    state: Literal["alive", "degraded", "dead", "stopped"]
    #: Why the worker is degraded, as of its last heartbeat (null while healthy).
    degraded: str | None = None
    running_jobs: int


class WorkerList(msgspec.Struct, kw_only=True):
    items: list[Worker]
