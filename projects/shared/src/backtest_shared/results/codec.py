"""The stored bytes of a result's detail: raw column buffers in a msgpack envelope, compressed once.

Layout: ``MAGIC`` (4 bytes), the envelope's uncompressed length (uint32, little
endian), then the zstd-compressed msgpack ``Envelope``. Each column is its
little-endian buffer, with two transforms that make zstd's job easy and cost a
copy each: int64 columns are stored as differences from the previous element
(times and bars grow steadily), and every column is byte-shuffled (all first
bytes, then all second bytes, ...), so the slowly varying high bytes of floats
sit together. Both are exact: decoding gives the same values bit for bit.

A *summary* (``ResultColumns.summary``) is marked in the envelope
(``summary: true``) and holds the curve but no trade column at all: readers
that predate summaries refuse it as lacking columns rather than serve it as a
result without trades. A complete result's envelope has no ``summary`` key, so
its bytes are those complete results always had.

The database stores these bytes as they are (``bytea`` with ``STORAGE
EXTERNAL``: no second compression attempt); nothing in SQL reads inside them.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from backtest_shared.results.columns import CURVE_DTYPES
from backtest_shared.results.columns import TRADE_DTYPES
from backtest_shared.results.columns import ResultColumns

__all__ = ["FORMAT_VERSION", "MAGIC", "ResultFormatError", "decode_columns", "detail_is_complete", "encode_columns"]

MAGIC = b"BTR\x01"
FORMAT_VERSION = 1
CODEC = "zstd"
_HEADER = struct.Struct("<4sI")
#: No real result comes near this: a larger claimed size means corrupt bytes.
MAX_DECODED_BYTES = 1 << 30


class ResultFormatError(ValueError):
    """Bytes that are not a stored result of a format this code reads."""


class Envelope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    version: int
    n_bars: int
    n_curve: int
    n_trades: int
    curve: dict[str, bytes]
    trades: dict[str, bytes]
    #: True: a summary (no trades; the curve is coarser than a complete result's).
    summary: bool = False


class _Kind(msgspec.Struct, frozen=True):
    """The part of an ``Envelope`` that says what it holds (the columns are skipped, not copied)."""

    summary: bool = False


def _pack(array: npt.NDArray[Any]) -> bytes:
    if array.dtype.kind == "i" and array.dtype.itemsize == 8 and array.shape[0] > 0:
        # Wrapping differences are exact: the cumulative sum wraps back.
        with np.errstate(over="ignore"):
            array = np.diff(array, prepend=array.dtype.type(0))
    size = array.dtype.itemsize
    if size == 1:
        return array.tobytes()
    return array.view(np.uint8).reshape(-1, size).T.tobytes()


def _unpack(buffer: bytes, dtype: str, n: int) -> npt.NDArray[Any]:
    kind = np.dtype(dtype)
    if len(buffer) != n * kind.itemsize:
        raise ResultFormatError(f"a column holds {len(buffer)} bytes, expected {n * kind.itemsize}")
    raw = np.frombuffer(buffer, dtype=np.uint8)
    if kind.itemsize > 1:
        raw = raw.reshape(kind.itemsize, n).T.copy()
    array = raw.view(kind).reshape(n)
    if kind.kind == "i" and kind.itemsize == 8:
        with np.errstate(over="ignore"):
            array = np.cumsum(array, dtype=kind)
    return array


def encode_columns(columns: ResultColumns) -> bytes:
    """The stored bytes of ``columns`` (a summary's: its curve only)."""
    if columns.summary and columns.n_trades:
        raise ValueError("a summary holds no trades")
    envelope = Envelope(
        version=FORMAT_VERSION,
        n_bars=columns.n_bars,
        n_curve=int(columns.curve["time"].shape[0]),
        n_trades=columns.n_trades,
        curve={name: _pack(columns.curve[name]) for name in CURVE_DTYPES},
        trades={} if columns.summary else {name: _pack(columns.trades[name]) for name in TRADE_DTYPES},
        summary=columns.summary,
    )
    raw = msgspec.msgpack.encode(envelope)
    compressed: bytes = pa.compress(raw, codec=CODEC, asbytes=True)
    return _HEADER.pack(MAGIC, len(raw)) + compressed


def _envelope_bytes(stored: bytes) -> bytes:
    """The msgpack envelope inside ``stored``, after checking the header."""
    if len(stored) < _HEADER.size:
        raise ResultFormatError("too short to be a stored result")
    magic, size = _HEADER.unpack_from(stored)
    if magic != MAGIC:
        raise ResultFormatError(f"unknown result format {magic!r}")
    if size > MAX_DECODED_BYTES:
        raise ResultFormatError(f"a stored result claims {size} bytes, more than {MAX_DECODED_BYTES}")
    try:
        raw: bytes = pa.decompress(
            memoryview(stored)[_HEADER.size :], decompressed_size=size, codec=CODEC, asbytes=True
        )
    except (pa.ArrowException, OSError) as err:
        raise ResultFormatError(f"corrupt stored result: {err}") from None
    return raw


def decode_columns(stored: bytes) -> ResultColumns:
    """The columns ``encode_columns`` stored; ``ResultFormatError`` if ``stored`` is not such bytes.
    A summary comes back with ``summary`` set and empty trade columns."""
    raw = _envelope_bytes(stored)
    try:
        envelope: Envelope = msgspec.msgpack.decode(raw, type=Envelope)
    except msgspec.DecodeError as err:
        raise ResultFormatError(f"corrupt stored result: {err}") from None
    trade_names = set() if envelope.summary else set(TRADE_DTYPES)
    if set(envelope.curve) != set(CURVE_DTYPES) or set(envelope.trades) != trade_names:
        raise ResultFormatError("a stored result lacks columns")
    if envelope.summary and envelope.n_trades:
        raise ResultFormatError("a stored summary claims trades")
    trades = {name: envelope.trades.get(name, b"") for name in TRADE_DTYPES}
    return ResultColumns(
        curve={name: _unpack(envelope.curve[name], d, envelope.n_curve) for name, d in CURVE_DTYPES.items()},
        trades={name: _unpack(trades[name], d, envelope.n_trades) for name, d in TRADE_DTYPES.items()},
        n_bars=envelope.n_bars,
        summary=envelope.summary,
    )


def detail_is_complete(stored: bytes | None) -> bool:
    """Whether a stored detail holds the whole result (False: a summary, whose trades and
    full curve must be regenerated). ``None``, the detail of rows in the JSON form, is complete.
    Reads the envelope's marker only; ``ResultFormatError`` if ``stored`` is not a stored result."""
    if stored is None:
        return True
    try:
        kind: _Kind = msgspec.msgpack.decode(_envelope_bytes(bytes(stored)), type=_Kind)
    except msgspec.DecodeError as err:
        raise ResultFormatError(f"corrupt stored result: {err}") from None
    return not kind.summary
