"""Trade accounting: per-trade growth, ruin, and the mark-to-market equity curve.

Array conventions: per-trade arrays (from ``simulate.Schedule``) have length
``m``; ``close`` and the returned equity are float64 of length ``n``. With
f = position_size * leverage and r = exit_fill / entry_fill, a trade changes
equity by the factor ``1 + g`` with ``g = f * (side * (r - 1) - fee * (1 + r))``.
NaN policy: inputs are finite, so outputs are finite.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from backtest_shared.engine.simulate import Schedule
from backtest_shared.engine.simulate import SimConfig

FloatArray = npt.NDArray[np.float64]

__all__ = ["apply_ruin", "equity_curve", "trade_growth"]


def trade_growth(sched: Schedule, cfg: SimConfig) -> FloatArray:
    """Per-trade equity growth g: equity_after = equity_before * (1 + g)."""
    ratio = sched.exit_price / sched.entry_price
    return cfg.fraction * (sched.side * (ratio - 1.0) - cfg.fee * (1.0 + ratio))


def apply_ruin(sched: Schedule, growth: FloatArray) -> tuple[Schedule, FloatArray]:
    """Drop trades after the first one that leaves equity <= 0."""
    ruined = np.flatnonzero(growth <= -1.0)
    if ruined.shape[0] == 0:
        return sched, growth
    keep = int(ruined[0]) + 1
    return sched.head(keep), growth[:keep]


def equity_curve(
    closes: FloatArray, sched: Schedule, growth: FloatArray, cfg: SimConfig, capital: float
) -> tuple[FloatArray, FloatArray]:
    """(equity at each close, equity before each trade).

    The curve is piecewise ``offset + slope * close``: flat segments have
    slope 0 and offset = the equity after the last exit; a position segment
    [entry, exit) has offset = E*(1 - f*(side + fee)) and
    slope = E*f*side/entry_price, E being the equity before the trade.
    Segments alternate flat, position, flat, ... (2m + 1 of them).
    """
    n = closes.shape[0]
    trades = sched.size
    after = capital * np.cumprod(1.0 + growth)
    before = np.empty(trades)
    if trades == 0:
        return np.full(n, capital), before
    before[0] = capital
    before[1:] = after[:-1]
    side = sched.side.astype(np.float64)
    offsets = np.empty(2 * trades + 1)
    slopes = np.zeros(2 * trades + 1)
    lengths = np.empty(2 * trades + 1, dtype=np.int64)
    offsets[0] = capital
    offsets[1::2] = before * (1.0 - cfg.fraction * (side + cfg.fee))
    slopes[1::2] = before * cfg.fraction * side / sched.entry_price
    offsets[2::2] = after
    lengths[0] = sched.entry_bar[0]
    lengths[1::2] = sched.exit_bar - sched.entry_bar
    lengths[2:-1:2] = sched.entry_bar[1:] - sched.exit_bar[:-1]
    lengths[-1] = n - sched.exit_bar[-1]
    equity = np.repeat(slopes, lengths)
    equity *= closes
    equity += np.repeat(offsets, lengths)
    return equity, before
