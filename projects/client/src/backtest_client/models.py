"""Plain records of what the API returns (datasets), with timestamps as pandas UTC Timestamps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd


def _time(value: Any) -> pd.Timestamp:
    if isinstance(value, (int, float)):
        return pd.Timestamp(int(value), unit="s", tz="UTC")
    return pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo else pd.Timestamp(value, tz="UTC")


@dataclass(frozen=True)
class Dataset:
    """An uploaded dataset; ``existing`` is True when identical bars were already stored under this id."""

    id: str
    name: str
    n_bars: int
    first_timestamp: pd.Timestamp
    last_timestamp: pd.Timestamp
    size_bytes: int
    content_hash: str
    created_at: pd.Timestamp
    existing: bool = False

    def __str__(self) -> str:
        return self.id

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, existing: bool = False) -> Dataset:
        return cls(
            id=str(body["id"]),
            name=str(body["name"]),
            n_bars=int(body["n_bars"]),
            first_timestamp=_time(body["first_timestamp"]),
            last_timestamp=_time(body["last_timestamp"]),
            size_bytes=int(body["size_bytes"]),
            content_hash=str(body["content_hash"]),
            created_at=_time(body["created_at"]),
            existing=existing or bool(body.get("existing")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "n_bars": self.n_bars,
            "first_timestamp": self.first_timestamp.isoformat(),
            "last_timestamp": self.last_timestamp.isoformat(),
            "size_bytes": self.size_bytes,
            "content_hash": self.content_hash,
            "created_at": self.created_at.isoformat(),
            "existing": self.existing,
        }
