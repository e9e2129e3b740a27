"""Performance metrics from an equity curve and a trade schedule.

Array conventions: ``equity`` is float64 of length ``n`` (value at each bar
close, starting from the initial capital before any trade); ``timestamps`` is
int64 epoch seconds; per-trade arrays have length ``m``. NaN policy: every
metric is a finite float or ``None`` (undefined: no trades, zero variance,
zero drawdown, ...); NaN/inf never leave this module.

Units: total_return, cagr, annual_volatility, max_drawdown (positive, 0.25 =
25 % below the running peak) and win_rate are fractions; exposure_pct,
best_trade and worst_trade (trade return_pct) are percent; expectancy is the
mean trade pnl in account currency. Annualisation uses bars per year =
(n-1) / (span of the timestamps in years of 365.25 days), so it adapts to
daily equity bars (~252/year) as well as 24/7 minute bars. Sharpe and Sortino
use a zero risk-free rate; Sortino's downside deviation is
sqrt(mean(min(r, 0)^2)) over all bar returns r.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
import numpy.typing as npt

from backtest_shared.engine.data import SECONDS_PER_YEAR

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["LOWER_IS_BETTER", "METRIC_NAMES", "Metrics", "compute_metrics"]


class Metrics(msgspec.Struct, frozen=True, kw_only=True):
    total_return: float | None
    cagr: float | None
    annual_volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None
    max_drawdown_duration_bars: int
    calmar: float | None
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None
    num_trades: int
    avg_trade_duration_bars: float | None
    exposure_pct: float | None
    best_trade: float | None
    worst_trade: float | None


METRIC_NAMES: tuple[str, ...] = Metrics.__struct_fields__
LOWER_IS_BETTER: frozenset[str] = frozenset(("annual_volatility", "max_drawdown", "max_drawdown_duration_bars"))


def _f(x: float | np.floating[npt.NBitBase] | None) -> float | None:
    if x is None:
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def _sum_of_squares(values: FloatArray) -> float:
    """``sum(values**2)`` with the same bits whatever the BLAS thread count.

    ``np.dot`` goes through BLAS, whose threads split the sum differently
    for different thread counts; ``einsum`` without ``optimize`` runs
    numpy's own single-threaded loop and never calls BLAS.
    """
    return float(np.einsum("i,i->", values, values, optimize=False))


_PEAK_CHUNK = 256
_MOST_CHUNKS_RISING = 0.25


def running_peak(equity: FloatArray) -> FloatArray:
    """``np.maximum.accumulate(equity)`` for finite input, the same values (max is exact).

    A running maximum is a sequential scan; here the curve is cut into chunks
    of ``_PEAK_CHUNK`` bars and only chunks that set a new high are scanned;
    the others hold the previous peak. An equity curve spends most chunks
    below its peak; when most chunks rise the plain scan is used.
    """
    n = equity.shape[0]
    chunks = n // _PEAK_CHUNK
    if chunks < 2:
        return np.maximum.accumulate(equity)
    cut = chunks * _PEAK_CHUNK
    rows = equity[:cut].reshape(chunks, _PEAK_CHUNK)
    chunk_max = rows.max(axis=1)
    through = np.maximum.accumulate(chunk_max)
    before = np.empty(chunks)
    before[0] = -np.inf
    before[1:] = through[:-1]
    rising = np.flatnonzero(chunk_max > before)
    if rising.shape[0] > _MOST_CHUNKS_RISING * chunks:
        return np.maximum.accumulate(equity)
    peak = np.empty(n)
    peak_rows = peak[:cut].reshape(chunks, _PEAK_CHUNK)
    peak_rows[:] = before[:, None]
    scanned = np.maximum.accumulate(rows[rising], axis=1)
    np.maximum(scanned, before[rising, None], out=scanned)
    peak_rows[rising] = scanned
    if cut < n:
        np.maximum(np.maximum.accumulate(equity[cut:]), through[-1], out=peak[cut:])
    return peak


def compute_metrics(
    equity: FloatArray,
    timestamps: IntArray,
    entry_bar: IntArray,
    exit_bar: IntArray,
    pnl: FloatArray,
    return_pct: FloatArray,
    capital: float,
) -> Metrics:
    n = equity.shape[0]
    final = float(equity[-1])
    total_return = final / capital - 1.0
    span = float(timestamps[-1] - timestamps[0]) if n > 1 else 0.0
    years = span / SECONDS_PER_YEAR
    ppy = (n - 1) / years if years > 0 else None
    cagr: float | None = None
    if years > 0:
        if final <= 0:
            cagr = -1.0
        else:
            try:
                cagr = _f(math.exp(math.log(final / capital) / years) - 1.0)
            except OverflowError:
                cagr = None
    vol = sharpe = sortino = None
    if n > 2 and ppy is not None:
        r = np.empty(n - 1)
        if float(equity.min()) > 0:
            np.divide(equity[1:], equity[:-1], out=r)
        else:
            prev = equity[:-1]
            r.fill(1.0)
            np.divide(equity[1:], prev, out=r, where=prev > 0)
        r -= 1.0
        k = n - 1
        mean = float(r.sum()) / k
        var = max((_sum_of_squares(r) - k * mean * mean) / (k - 1), 0.0)
        std = math.sqrt(var)
        root = math.sqrt(ppy)
        vol = _f(std * root)
        if std > 0:
            sharpe = _f(mean / std * root)
        np.minimum(r, 0.0, out=r)
        down = math.sqrt(_sum_of_squares(r) / k)
        if down > 0:
            sortino = _f(mean / down * root)
    peak = running_peak(equity)
    at_peak = np.flatnonzero(equity >= peak)
    # The drawdown ratio reuses the running peak's array (one allocation less).
    drawdown_ratio = np.divide(equity, peak, out=peak)
    max_dd = 1.0 - float(np.min(drawdown_ratio))
    duration = int((np.diff(np.append(at_peak, n)) - 1).max())
    calmar = _f(cagr / max_dd) if cagr is not None and max_dd > 0 else None
    m = int(pnl.shape[0])
    win_rate = profit_factor = expectancy = avg_dur = best = worst = None
    held = exit_bar - entry_bar
    if m:
        wins = pnl[pnl > 0]
        losses = pnl[pnl < 0]
        win_rate = wins.shape[0] / m
        if losses.shape[0]:
            profit_factor = _f(float(wins.sum()) / -float(losses.sum()))
        expectancy = _f(pnl.mean())
        avg_dur = _f(held.mean())
        best = _f(return_pct.max())
        worst = _f(return_pct.min())
    return Metrics(
        total_return=_f(total_return),
        cagr=cagr,
        annual_volatility=vol,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=_f(max_dd),
        max_drawdown_duration_bars=duration,
        calmar=calmar,
        win_rate=win_rate,
        profit_factor=profit_factor,
        expectancy=expectancy,
        num_trades=m,
        avg_trade_duration_bars=avg_dur,
        exposure_pct=_f(100.0 * float(held.sum()) / n),
        best_trade=best,
        worst_trade=worst,
    )
