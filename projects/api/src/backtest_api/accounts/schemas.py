"""What ``/api/v1/me`` answers."""

from __future__ import annotations

import uuid

import msgspec


class Me(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    role: str
    max_pending_jobs: int
