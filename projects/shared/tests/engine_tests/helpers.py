"""Helpers to build tiny hand-made bar sets and specs for the tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from backtest_shared.engine import OHLCV
from backtest_shared.engine import StrategySpec
from backtest_shared.engine import decode_strategy

DAY = 86_400


def bars(rows: list[tuple[float, float, float, float]], start: int = 1_600_000_000) -> OHLCV:
    """Bars from (open, high, low, close) rows, one day apart, volume 1000."""
    arr = np.array(rows, dtype=np.float64)
    n = arr.shape[0]
    return OHLCV(
        timestamps=start + DAY * np.arange(n, dtype=np.int64),
        open=arr[:, 0],
        high=arr[:, 1],
        low=arr[:, 2],
        close=arr[:, 3],
        volume=np.full(n, 1000.0),
    )


def cross_spec(
    level: float = 100.0,
    *,
    direction: str = "long",
    entry_kind: str = "crosses_above",
    exit_kind: str = "crosses_below",
    indicators: dict[str, Any] | None = None,
    fee_bps: float = 0.0,
    slippage_bps: float = 0.0,
    **money: Any,
) -> StrategySpec:
    """Enter when close crosses ``level`` upwards, exit when it crosses down."""
    return decode_strategy(
        {
            "indicators": indicators or {},
            "entry": {"conditions": [{"kind": entry_kind, "left": "close", "right": level}]},
            "exit": {"conditions": [{"kind": exit_kind, "left": "close", "right": level}]},
            "direction": direction,
            "money": money,
            "costs": {"fee_bps": fee_bps, "slippage_bps": slippage_bps},
            "initial_capital": 10_000.0,
        }
    )
