"""From an engine result to the stored pair, and from a stored row back to JSON-ready lists."""

from __future__ import annotations

from typing import Any

import msgspec

from backtest_shared.engine.result import BacktestResult
from backtest_shared.results.codec import decode_columns
from backtest_shared.results.codec import encode_columns
from backtest_shared.results.columns import ResultColumns

__all__ = ["EncodedResult", "encode_result", "result_builtins"]

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


def result_builtins(
    equity_curve: list[Any] | None, trades: list[Any] | None, detail: bytes | None
) -> tuple[list[Any], list[Any]]:
    """(equity curve, trades) of a stored row: from ``detail`` when the row has it,
    else from the JSON columns rows written before the compact form held."""
    if detail is not None:
        return decode_columns(bytes(detail)).to_builtins()
    return list(equity_curve or []), list(trades or [])
