"""Indicator kernels (plain numpy, no JIT).

Array conventions: inputs are 1-D C-contiguous float64 arrays of length ``n``
with no NaN (validated bars). Every output is a float64 array of length ``n``
whose first ``lookback`` entries are NaN (warm-up) and whose later entries are
finite, except ``roc`` of a zero denominator (NaN). ``lookback`` for each
indicator is given by ``spec.indicator_lookback``.

Definitions: SMA = arithmetic mean of the last ``period`` values; EMA uses
alpha = 2/(period+1) seeded with the SMA of the first ``period`` values; WMA
weights 1..period (newest heaviest); RSI and ATR use Wilder smoothing
(alpha = 1/period) seeded with a simple mean; true range of bar 0 is high-low;
Bollinger uses the population standard deviation (ddof=0); Stochastic %K uses
the high/low of the last ``k_period`` bars (50 when that range is 0) and %D is
the SMA of %K; Donchian uses the *previous* ``period`` bars (excluding the
current one) so that ``close > upper`` is a breakout; ROC is in percent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from backtest_shared.engine.spec import ATR
from backtest_shared.engine.spec import EMA
from backtest_shared.engine.spec import MACD
from backtest_shared.engine.spec import ROC
from backtest_shared.engine.spec import RSI
from backtest_shared.engine.spec import SMA
from backtest_shared.engine.spec import WMA
from backtest_shared.engine.spec import Bollinger
from backtest_shared.engine.spec import Donchian
from backtest_shared.engine.spec import Indicator
from backtest_shared.engine.spec import Stochastic
from backtest_shared.engine.spec import SuperTrend
from backtest_shared.engine.windows import rolling_max
from backtest_shared.engine.windows import rolling_min
from backtest_shared.engine.windows import rolling_std
from backtest_shared.engine.windows import sma
from backtest_shared.engine.windows import wma

FloatArray = npt.NDArray[np.float64]
Outputs = dict[str, FloatArray]

__all__ = [
    "atr",
    "bollinger",
    "compute_indicator",
    "donchian",
    "ema",
    "macd",
    "roc",
    "rsi",
    "sma",
    "stochastic",
    "supertrend",
    "wma",
]

_BLOCK = 64


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan)


def recursive_smooth(x: FloatArray, alpha: float, seed_index: int, seed: float) -> FloatArray:
    """``y[s] = seed``, ``y[t] = alpha*x[t] + (1-alpha)*y[t-1]`` for t > s.

    Vectorised by blocks of 64 bars: within a block the recursion is a small
    lower-triangular matrix product; only block carries are sequential. The
    recursion runs on ``x - seed`` and adds ``seed`` back, so a constant input
    equal to the seed gives exactly the seed (equal flat averages stay equal)
    and rounding scales with the deviation from the seed, not the level.
    """
    n = x.shape[0]
    out = _nan(n)
    if seed_index >= n:
        return out
    out[seed_index] = seed
    rest = x[seed_index + 1 :]
    count = rest.shape[0]
    if count == 0:
        return out
    keep = 1.0 - alpha
    blocks = -(-count // _BLOCK)
    deviations = np.zeros(blocks * _BLOCK)
    np.subtract(rest, seed, out=deviations[:count])
    lag = np.arange(_BLOCK)[:, None] - np.arange(_BLOCK)[None, :]
    weights = np.where(lag >= 0, alpha * keep ** np.maximum(lag, 0), 0.0)
    # Each block's recursion started from 0; the carry of earlier blocks is added below.
    smoothed = deviations.reshape(blocks, _BLOCK) @ weights.T
    decay = keep ** np.arange(1, _BLOCK + 1)
    block_decay = float(decay[-1])
    carries = np.empty(blocks)
    carry = 0.0
    block_ends = smoothed[:, -1].tolist()
    for block in range(blocks):
        carries[block] = carry
        carry = block_decay * carry + block_ends[block]
    smoothed += carries[:, None] * decay[None, :]
    np.add(smoothed.reshape(-1)[:count], seed, out=out[seed_index + 1 :])
    return out


def window_seed(x: FloatArray, first: int, last: int) -> float:
    """Mean of ``x[first:last + 1]``; exactly the value when the window is constant."""
    window = x[first : last + 1]
    if window.min() == window.max():
        return float(window[0])
    return float(np.mean(window))


def ema(x: FloatArray, period: int, start: int = 0) -> FloatArray:
    """Exponential average, alpha = 2/(period+1), seeded with the mean of its first window."""
    first = start + period - 1
    if first >= x.shape[0]:
        return _nan(x.shape[0])
    return recursive_smooth(x, 2.0 / (period + 1.0), first, window_seed(x, start, first))


def wilder(x: FloatArray, period: int, start: int = 0) -> FloatArray:
    """Wilder's smoothing, alpha = 1/period, seeded with the mean of its first window."""
    first = start + period - 1
    if first >= x.shape[0]:
        return _nan(x.shape[0])
    return recursive_smooth(x, 1.0 / period, first, window_seed(x, start, first))


def rsi(x: FloatArray, period: int) -> FloatArray:
    """Relative strength index (Wilder); 50 without any move, 100 without a loss."""
    n = x.shape[0]
    change = np.zeros(n)
    change[1:] = np.diff(x)
    gain = wilder(np.maximum(change, 0.0), period, start=1)
    loss = wilder(np.maximum(-change, 0.0), period, start=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 - 100.0 / (1.0 + gain / loss)
    out = np.where(loss == 0.0, np.where(gain == 0.0, 50.0, 100.0), out)
    out[: min(period, n)] = np.nan
    return out


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """Largest of high - low and the gaps from the previous close; bar 0 is high - low."""
    ranges = high - low
    if ranges.shape[0] > 1:
        previous_close = close[:-1]
        gaps = np.maximum(np.abs(high[1:] - previous_close), np.abs(low[1:] - previous_close))
        ranges[1:] = np.maximum(ranges[1:], gaps)
    return ranges


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Average true range (Wilder smoothing)."""
    return wilder(true_range(high, low, close), period)


def macd(x: FloatArray, fast: int, slow: int, signal: int) -> Outputs:
    """MACD line (fast EMA - slow EMA), its signal EMA and the histogram (line - signal)."""
    line = ema(x, fast) - ema(x, slow)
    signal_line = ema(line, signal, start=slow - 1)
    return {"line": line, "signal": signal_line, "hist": line - signal_line}


def bollinger(x: FloatArray, period: int, stddev: float) -> Outputs:
    """SMA middle band and bands ``stddev`` population deviations above and below."""
    middle = sma(x, period)
    half_width = stddev * rolling_std(x, period)
    return {"middle": middle, "upper": middle + half_width, "lower": middle - half_width}


def stochastic(high: FloatArray, low: FloatArray, close: FloatArray, k_period: int, d_period: int) -> Outputs:
    """%K = where the close sits in the recent high-low range (0..100, 50 for a flat range); %D its SMA."""
    highest = rolling_max(high, k_period)
    lowest = rolling_min(low, k_period)
    span = highest - lowest
    with np.errstate(divide="ignore", invalid="ignore"):
        k_line = np.where(span > 0.0, 100.0 * (close - lowest) / span, 50.0)
    k_line[: min(k_period - 1, k_line.shape[0])] = np.nan
    return {"k": k_line, "d": sma(k_line, d_period, start=k_period - 1)}


def supertrend(high: FloatArray, low: FloatArray, close: FloatArray, period: int, multiplier: float) -> Outputs:
    """SuperTrend exactly as TradingView's ``ta.supertrend(multiplier, period)``.

    Bands are hl2 -/+ multiplier * ATR (Wilder ATR seeded with the SMA of the
    true range, TR[0] = high - low). The lower band only rises unless the
    previous close fell below it; the upper band only falls unless the
    previous close rose above it. The first defined bar is a down-trend (value
    = upper band). The trend turns up when the close is above the current
    upper band and down when it is below the current lower band; "was down" is
    TradingView's test ``previous value == previous upper band``. Outputs:
    ``direction`` +1 up-trend / -1 down-trend (TradingView reports the
    opposite sign), ``value`` the active band. A per-bar loop (path dependent).
    """
    n = close.shape[0]
    value = _nan(n)
    direction = _nan(n)
    first = period - 1
    if first >= n:
        return {"value": value, "direction": direction}
    middle = (high + low) / 2.0
    band = multiplier * atr(high, low, close, period)
    raw_lower = (middle - band).tolist()
    raw_upper = (middle + band).tolist()
    closes = close.tolist()
    lower, upper = raw_lower[first], raw_upper[first]
    trend = -1.0
    current = upper
    values = [0.0] * n
    trends = [0.0] * n
    values[first], trends[first] = current, trend
    for bar in range(first + 1, n):
        previous_close = closes[bar - 1]
        was_down = current == upper
        candidate = raw_lower[bar]
        lower = candidate if candidate > lower or previous_close < lower else lower
        candidate = raw_upper[bar]
        upper = candidate if candidate < upper or previous_close > upper else upper
        turns_up = closes[bar] > upper if was_down else closes[bar] >= lower
        trend = 1.0 if turns_up else -1.0
        current = lower if trend > 0.0 else upper
        values[bar], trends[bar] = current, trend
    value[first:] = values[first:]
    direction[first:] = trends[first:]
    return {"value": value, "direction": direction}


def donchian(high: FloatArray, low: FloatArray, period: int) -> Outputs:
    """Highest high and lowest low of the previous ``period`` bars, and their midpoint."""
    n = high.shape[0]
    upper = _nan(n)
    lower = _nan(n)
    if period < n:
        upper[period:] = rolling_max(high, period)[period - 1 : -1]
        lower[period:] = rolling_min(low, period)[period - 1 : -1]
    return {"middle": (upper + lower) / 2.0, "upper": upper, "lower": lower}


def roc(x: FloatArray, period: int) -> FloatArray:
    """Rate of change over ``period`` bars, in percent."""
    n = x.shape[0]
    out = _nan(n)
    if period < n:
        earlier = x[:-period]
        with np.errstate(divide="ignore", invalid="ignore"):
            change = 100.0 * (x[period:] / earlier - 1.0)
        out[period:] = np.where(earlier != 0.0, change, np.nan)
    return out


def compute_indicator(
    ind: Indicator,
    source: Callable[[str], FloatArray],
    ohlc: tuple[FloatArray, FloatArray, FloatArray],
) -> Outputs:
    """All outputs of one indicator; ``source(name)`` returns a price series."""
    high, low, close = ohlc
    if isinstance(ind, SMA):
        return {"value": sma(source(ind.source), ind.period)}
    if isinstance(ind, EMA):
        return {"value": ema(source(ind.source), ind.period)}
    if isinstance(ind, WMA):
        return {"value": wma(source(ind.source), ind.period)}
    if isinstance(ind, RSI):
        return {"value": rsi(source(ind.source), ind.period)}
    if isinstance(ind, MACD):
        return macd(source(ind.source), ind.fast, ind.slow, ind.signal)
    if isinstance(ind, Bollinger):
        return bollinger(source(ind.source), ind.period, ind.stddev)
    if isinstance(ind, ATR):
        return {"value": atr(high, low, close, ind.period)}
    if isinstance(ind, Stochastic):
        return stochastic(high, low, close, ind.k_period, ind.d_period)
    if isinstance(ind, SuperTrend):
        return supertrend(high, low, close, ind.period, ind.multiplier)
    if isinstance(ind, Donchian):
        return donchian(high, low, ind.period)
    assert isinstance(ind, ROC)
    return {"value": roc(source(ind.source), ind.period)}
