"""Backtest results: trades, full equity, and the compact stored form.

Array conventions: ``BacktestResult.equity`` is float64 of length ``n`` (equity
at each bar close); ``timestamps`` int64 epoch seconds of length ``n``.
NaN policy: metrics are finite or None; ``StoredResult`` contains only finite
numbers (non-finite equity points, which cannot occur for validated inputs,
would be dropped) so ``msgspec.json.encode`` always succeeds.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt

from backtest_shared.engine.metrics import Metrics
from backtest_shared.engine.simulate import REASONS
from backtest_shared.engine.simulate import Schedule
from backtest_shared.engine.version import ENGINE_VERSION

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ExitReason = Literal["signal", "stop_loss", "take_profit", "trailing_stop", "end_of_data"]

__all__ = ["BacktestResult", "StoredResult", "Trade", "downsample_indices"]


class Trade(msgspec.Struct, frozen=True, kw_only=True):
    """One round trip. Prices are fills (slippage included); pnl is net of fees;
    return_pct = 100 * pnl / (size * entry_price); bars are indices into data."""

    entry_time: int
    exit_time: int
    entry_price: float
    exit_price: float
    side: Literal["long", "short"]
    size: float
    pnl: float
    return_pct: float
    exit_reason: ExitReason
    entry_bar: int
    exit_bar: int


class StoredResult(msgspec.Struct, frozen=True, kw_only=True):
    metrics: Metrics
    equity_curve: list[tuple[int, float]]
    trades: list[Trade]
    n_bars: int = 0
    engine_version: str = ENGINE_VERSION


def downsample_indices(equity: FloatArray, max_points: int) -> IntArray:
    """At most ``max_points`` sorted indices: first, last, the max-drawdown
    peak and trough, plus the min and max of equal-width buckets."""
    n = equity.shape[0]
    if max_points < 4:
        raise ValueError("max_points must be at least 4")
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    peak = np.maximum.accumulate(equity)
    trough = int(np.argmax(1.0 - equity / peak))
    peak_at = int(np.argmax(equity[: trough + 1]))
    buckets = (max_points - 4) // 2
    picks = [np.array([0, n - 1, trough, peak_at], dtype=np.int64)]
    if buckets > 0:
        width = -(-n // buckets)
        padded = np.concatenate((equity, np.full(buckets * width - n, equity[-1])))
        grid = padded.reshape(buckets, width)
        base = np.arange(buckets, dtype=np.int64) * width
        picks.append(np.minimum(base + grid.argmin(axis=1), n - 1))
        picks.append(np.minimum(base + grid.argmax(axis=1), n - 1))
    return np.unique(np.concatenate(picks))


class BacktestResult:
    """Result of ``run_backtest``; ``trades`` is materialised lazily."""

    def __init__(
        self,
        metrics: Metrics,
        equity: FloatArray,
        timestamps: IntArray,
        schedule: Schedule,
        size: FloatArray,
        pnl: FloatArray,
        return_pct: FloatArray,
    ) -> None:
        self.metrics = metrics
        self.equity = equity
        self.timestamps = timestamps
        self.schedule = schedule
        self.trade_size = size
        self.trade_pnl = pnl
        self.trade_return_pct = return_pct

    @cached_property
    def trades(self) -> list[Trade]:
        s = self.schedule
        ts = self.timestamps
        return [
            Trade(
                entry_time=int(ts[eb]),
                exit_time=int(ts[xb]),
                entry_price=ep,
                exit_price=xp,
                side="long" if sd > 0 else "short",
                size=sz,
                pnl=pl,
                return_pct=rp,
                exit_reason=REASONS[rs],  # type: ignore[arg-type,unused-ignore]
                entry_bar=eb,
                exit_bar=xb,
            )
            for eb, xb, ep, xp, sd, sz, pl, rp, rs in zip(
                s.entry_bar.tolist(),
                s.exit_bar.tolist(),
                s.entry_price.tolist(),
                s.exit_price.tolist(),
                s.side.tolist(),
                self.trade_size.tolist(),
                self.trade_pnl.tolist(),
                self.trade_return_pct.tolist(),
                s.reason.tolist(),
                strict=True,
            )
        ]

    def to_stored(self, max_points: int = 1000) -> StoredResult:
        idx = downsample_indices(self.equity, max_points)
        curve = [
            (t, v)
            for t, v in zip(self.timestamps[idx].tolist(), self.equity[idx].tolist(), strict=True)
            if math.isfinite(v)
        ]
        return StoredResult(
            metrics=self.metrics,
            equity_curve=curve,
            trades=self.trades,
            n_bars=int(self.equity.shape[0]),
        )
