"""Dataset metadata as the API shows it."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec


class Dataset(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    content_hash: str
    n_bars: int
    first_timestamp: int
    last_timestamp: int
    size_bytes: int
    created_at: dt.datetime
    #: True when the upload's bars were already stored: this is that dataset (200), nothing new was stored.
    existing: bool = False


class DatasetPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Dataset]
