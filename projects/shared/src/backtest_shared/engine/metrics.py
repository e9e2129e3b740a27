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
from typing import NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt

from backtest_shared.engine.data import SECONDS_PER_YEAR
from backtest_shared.engine.drawdown import longest_drawdown_bars
from backtest_shared.engine.drawdown import max_drawdown
from backtest_shared.engine.drawdown import running_peak

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = [
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "Metrics",
    "ReturnMoments",
    "annual_volatility",
    "average_holding_bars",
    "bar_returns",
    "bars_per_year",
    "best_trade",
    "cagr",
    "calmar_ratio",
    "compute_metrics",
    "expectancy",
    "exposure_pct",
    "finite_or_none",
    "profit_factor",
    "return_moments",
    "sharpe_ratio",
    "sortino_ratio",
    "total_return",
    "win_rate",
    "worst_trade",
    "years_spanned",
]


class Metrics(msgspec.Struct, frozen=True, kw_only=True):
    """The stored summary of one backtest; units and None cases in the module docstring."""

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


def finite_or_none(value: float | np.floating[npt.NBitBase] | None) -> float | None:
    """``value`` as a float, or None when it is missing, NaN or infinite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _sum_of_squares(values: FloatArray) -> float:
    """``sum(values**2)`` with the same bits whatever the BLAS thread count.

    ``np.dot`` goes through BLAS, whose threads split the sum differently
    for different thread counts; ``einsum`` without ``optimize`` runs
    numpy's own single-threaded loop and never calls BLAS.
    """
    return float(np.einsum("i,i->", values, values, optimize=False))


def years_spanned(timestamps: IntArray) -> float:
    """Time from the first to the last bar in years of 365.25 days (0 for one bar)."""
    if timestamps.shape[0] < 2:
        return 0.0
    return float(timestamps[-1] - timestamps[0]) / SECONDS_PER_YEAR


def bars_per_year(n_bars: int, years: float) -> float | None:
    """Bar returns per year, ``(n_bars - 1) / years``; None for a zero span."""
    return (n_bars - 1) / years if years > 0 else None


def total_return(final_equity: float, capital: float) -> float:
    """Growth of the account over the whole test, as a fraction (0.1 = +10 %)."""
    return final_equity / capital - 1.0


def cagr(final_equity: float, capital: float, years: float) -> float | None:
    """Compound annual growth rate; -1 for a ruined account, None for a zero span or overflow."""
    if years <= 0:
        return None
    if final_equity <= 0:
        return -1.0
    try:
        return finite_or_none(math.exp(math.log(final_equity / capital) / years) - 1.0)
    except OverflowError:
        return None


def bar_returns(equity: FloatArray) -> FloatArray:
    """Simple returns ``equity[t] / equity[t-1] - 1`` of bars 1..n-1.

    A bar after a non-positive equity (a ruined account) returns 0.
    """
    returns = np.empty(equity.shape[0] - 1)
    if float(equity.min()) > 0:
        np.divide(equity[1:], equity[:-1], out=returns)
    else:
        previous = equity[:-1]
        returns.fill(1.0)
        np.divide(equity[1:], previous, out=returns, where=previous > 0)
    returns -= 1.0
    return returns


class ReturnMoments(NamedTuple):
    """Mean, sample standard deviation and downside deviation of bar returns."""

    mean: float
    std: float
    downside: float


def return_moments(returns: FloatArray) -> ReturnMoments:
    """Moments of at least two bar returns; ``returns`` is consumed (clipped at 0).

    ``std`` has ``k - 1`` degrees of freedom (clamped at 0); ``downside`` is
    ``sqrt(mean(min(r, 0)**2))`` over all returns (a zero target).
    """
    count = returns.shape[0]
    mean = float(returns.sum()) / count
    variance = max((_sum_of_squares(returns) - count * mean * mean) / (count - 1), 0.0)
    np.minimum(returns, 0.0, out=returns)
    downside = math.sqrt(_sum_of_squares(returns) / count)
    return ReturnMoments(mean, math.sqrt(variance), downside)


def annual_volatility(std: float, per_year: float) -> float | None:
    """Standard deviation of bar returns scaled to a year (square-root-of-time rule)."""
    return finite_or_none(std * math.sqrt(per_year))


def sharpe_ratio(mean: float, std: float, per_year: float) -> float | None:
    """Annualised mean over standard deviation of bar returns (zero risk-free rate)."""
    if std <= 0:
        return None
    return finite_or_none(mean / std * math.sqrt(per_year))


def sortino_ratio(mean: float, downside: float, per_year: float) -> float | None:
    """Annualised mean over downside deviation of bar returns (zero target)."""
    if downside <= 0:
        return None
    return finite_or_none(mean / downside * math.sqrt(per_year))


def calmar_ratio(growth_rate: float | None, drawdown: float) -> float | None:
    """CAGR over maximum drawdown; None without a drawdown or a CAGR."""
    if growth_rate is None or drawdown <= 0:
        return None
    return finite_or_none(growth_rate / drawdown)


def win_rate(pnl: FloatArray) -> float | None:
    """Fraction of trades with a positive pnl; None without trades."""
    trades = pnl.shape[0]
    return int(np.count_nonzero(pnl > 0)) / trades if trades else None


def profit_factor(pnl: FloatArray) -> float | None:
    """Gross profit over gross loss; None without a losing trade."""
    losses = pnl[pnl < 0]
    if not losses.shape[0]:
        return None
    return finite_or_none(float(pnl[pnl > 0].sum()) / -float(losses.sum()))


def expectancy(pnl: FloatArray) -> float | None:
    """Mean trade pnl in account currency; None without trades."""
    return finite_or_none(pnl.mean()) if pnl.shape[0] else None


def average_holding_bars(held_bars: IntArray) -> float | None:
    """Mean number of bars a trade stays open; None without trades."""
    return finite_or_none(held_bars.mean()) if held_bars.shape[0] else None


def exposure_pct(held_bars: IntArray, n_bars: int) -> float | None:
    """Percent of bars spent in a position."""
    return finite_or_none(100.0 * float(held_bars.sum()) / n_bars)


def best_trade(return_pct: FloatArray) -> float | None:
    """Highest trade return in percent; None without trades."""
    return finite_or_none(return_pct.max()) if return_pct.shape[0] else None


def worst_trade(return_pct: FloatArray) -> float | None:
    """Lowest trade return in percent; None without trades."""
    return finite_or_none(return_pct.min()) if return_pct.shape[0] else None


def compute_metrics(
    equity: FloatArray,
    timestamps: IntArray,
    entry_bar: IntArray,
    exit_bar: IntArray,
    pnl: FloatArray,
    return_pct: FloatArray,
    capital: float,
) -> Metrics:
    """Every metric of one backtest (see the module docstring for units)."""
    n_bars = equity.shape[0]
    final_equity = float(equity[-1])
    years = years_spanned(timestamps)
    per_year = bars_per_year(n_bars, years)
    growth_rate = cagr(final_equity, capital, years)
    volatility = sharpe = sortino = None
    if n_bars > 2 and per_year is not None:
        moments = return_moments(bar_returns(equity))
        volatility = annual_volatility(moments.std, per_year)
        sharpe = sharpe_ratio(moments.mean, moments.std, per_year)
        sortino = sortino_ratio(moments.mean, moments.downside, per_year)
    peak = running_peak(equity)
    under_water_bars = longest_drawdown_bars(equity, peak)
    drawdown = max_drawdown(equity, peak, out=peak)
    held_bars = exit_bar - entry_bar
    return Metrics(
        total_return=finite_or_none(total_return(final_equity, capital)),
        cagr=growth_rate,
        annual_volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=finite_or_none(drawdown),
        max_drawdown_duration_bars=under_water_bars,
        calmar=calmar_ratio(growth_rate, drawdown),
        win_rate=win_rate(pnl),
        profit_factor=profit_factor(pnl),
        expectancy=expectancy(pnl),
        num_trades=int(pnl.shape[0]),
        avg_trade_duration_bars=average_holding_bars(held_bars),
        exposure_pct=exposure_pct(held_bars, n_bars),
        best_trade=best_trade(return_pct),
        worst_trade=worst_trade(return_pct),
    )
