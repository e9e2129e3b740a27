"""A bounded in-memory cache of market data, keyed by the dataset's content hash.

Bounded by total bytes (not entries), because datasets range from a few
kilobytes to hundreds of megabytes; the least recently used entries are
evicted first. One lives in each backtest process.
"""

from __future__ import annotations

from collections import OrderedDict

from backtest_shared.engine import OHLCV


class DatasetCache:
    """LRU of content hash -> OHLCV, at most ``max_bytes`` in total (one oversized entry is still kept)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[OHLCV, int]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, content_hash: object) -> bool:
        return content_hash in self._entries

    def get(self, content_hash: str) -> OHLCV | None:
        entry = self._entries.get(content_hash)
        if entry is None:
            return None
        self._entries.move_to_end(content_hash)
        return entry[0]

    def put(self, content_hash: str, data: OHLCV) -> None:
        old = self._entries.pop(content_hash, None)
        if old is not None:
            self._bytes -= old[1]
        size = data.nbytes
        self._entries[content_hash] = (data, size)
        self._bytes += size
        # Evict the oldest, but never the entry just added.
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted
