"""Compute workers as the registry knows them."""

from __future__ import annotations

import datetime as dt
import uuid

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
    #: alive, dead (no heartbeat for a while) or stopped.
    state: str
    running_jobs: int


class WorkerList(msgspec.Struct, kw_only=True):
    items: list[Worker]
