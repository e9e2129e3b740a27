"""From an engine result to the stored pair, and from a stored row back to JSON-ready lists.

Two stored forms: ``encode_result`` keeps the whole detail (a 1,000-point curve
and every trade); ``encode_summary`` keeps the metrics and a curve of at most
``SUMMARY_POINTS`` points, for results whose detail nobody is expected to read
(a sweep's backtests). The metrics are the same in both. A summary's detail is
regenerated on demand: the engine is deterministic, so running the job's config
on its dataset again and ``encode_result`` give the complete detail it would
have stored.
"""

from __future__ import annotations

from typing import Any

import msgspec

from backtest_shared.engine.result import BacktestResult
from backtest_shared.results.codec import decode_columns
from backtest_shared.results.codec import encode_columns
from backtest_shared.results.columns import ResultColumns

__all__ = [
    "SUMMARY_POINTS",
    "EncodedResult",
    "SummaryDetailError",
    "encode_result",
    "encode_summary",
    "result_builtins",
]

#: A summary's curve has at most this many points (a complete result's: 1,000).
SUMMARY_POINTS = 100

_json = msgspec.json.Encoder()


class EncodedResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a completion stores: the metrics as JSON text (ranked and filtered in SQL), the detail as bytes."""

    metrics_json: str
    detail: bytes


def encode_result(result: BacktestResult, max_points: int = 1000) -> EncodedResult:
    """The stored form of ``result``: no per-trade Python object is made."""
    return EncodedResult(
        metrics_json=_json.encode(result.metrics).decode(),
        detail=encode_columns(ResultColumns.from_backtest(result, max_points)),
    )


def encode_summary(result: BacktestResult, max_points: int = SUMMARY_POINTS) -> EncodedResult:
    """The summary form of ``result``: the same metrics as ``encode_result``, a detail marked
    as a summary holding the curve downsampled to at most ``max_points`` points and no trades."""
    return EncodedResult(
        metrics_json=_json.encode(result.metrics).decode(),
        detail=encode_columns(ResultColumns.summary_of(result, max_points)),
    )


class SummaryDetailError(ValueError):
    """The stored detail is a summary: the trades and the full curve must be regenerated
    (``encode_result`` of the job run again) before they can be served."""


def result_builtins(
    equity_curve: list[Any] | None, trades: list[Any] | None, detail: bytes | None
) -> tuple[list[Any], list[Any]]:
    """(equity curve, trades) of a stored row: from ``detail`` when the row has it,
    else from the JSON columns rows written before the compact form held.
    ``SummaryDetailError`` when ``detail`` is a summary: it has no trades to give."""
    if detail is not None:
        columns = decode_columns(bytes(detail))
        if columns.summary:
            raise SummaryDetailError("the stored detail is a summary: regenerate the result to read it")
        return columns.to_builtins()
    return list(equity_curve or []), list(trades or [])
