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
    m = rest.shape[0]
    if m == 0:
        return out
    q = 1.0 - alpha
    blocks = -(-m // _BLOCK)
    padded = np.zeros(blocks * _BLOCK)
    np.subtract(rest, seed, out=padded[:m])
    lag = np.arange(_BLOCK)[:, None] - np.arange(_BLOCK)[None, :]
    weights = np.where(lag >= 0, alpha * q ** np.maximum(lag, 0), 0.0)
    z = padded.reshape(blocks, _BLOCK) @ weights.T
    decay = q ** np.arange(1, _BLOCK + 1)
    q_block = float(decay[-1])
    carries = np.empty(blocks)
    carry = 0.0
    last = z[:, -1].tolist()
    for b in range(blocks):
        carries[b] = carry
        carry = q_block * carry + last[b]
    z += carries[:, None] * decay[None, :]
    np.add(z.reshape(-1)[:m], seed, out=out[seed_index + 1 :])
    return out


def window_seed(x: FloatArray, first: int, last: int) -> float:
    """Mean of ``x[first:last + 1]``; exactly the value when the window is constant."""
    window = x[first : last + 1]
    if window.min() == window.max():
        return float(window[0])
    return float(np.mean(window))


def ema(x: FloatArray, period: int, start: int = 0) -> FloatArray:
    first = start + period - 1
    if first >= x.shape[0]:
        return _nan(x.shape[0])
    return recursive_smooth(x, 2.0 / (period + 1.0), first, window_seed(x, start, first))


def wilder(x: FloatArray, period: int, start: int = 0) -> FloatArray:
    first = start + period - 1
    if first >= x.shape[0]:
        return _nan(x.shape[0])
    return recursive_smooth(x, 1.0 / period, first, window_seed(x, start, first))


def rsi(x: FloatArray, period: int) -> FloatArray:
    n = x.shape[0]
    diff = np.zeros(n)
    diff[1:] = np.diff(x)
    gain = wilder(np.maximum(diff, 0.0), period, start=1)
    loss = wilder(np.maximum(-diff, 0.0), period, start=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 - 100.0 / (1.0 + gain / loss)
    out = np.where(loss == 0.0, np.where(gain == 0.0, 50.0, 100.0), out)
    out[: min(period, n)] = np.nan
    return out


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    tr = high - low
    if tr.shape[0] > 1:
        prev = close[:-1]
        tr[1:] = np.maximum(tr[1:], np.maximum(np.abs(high[1:] - prev), np.abs(low[1:] - prev)))
    return tr


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    return wilder(true_range(high, low, close), period)


def macd(x: FloatArray, fast: int, slow: int, signal: int) -> Outputs:
    line = ema(x, fast) - ema(x, slow)
    sig = ema(line, signal, start=slow - 1)
    return {"line": line, "signal": sig, "hist": line - sig}


def bollinger(x: FloatArray, period: int, stddev: float) -> Outputs:
    mid = sma(x, period)
    width = stddev * rolling_std(x, period)
    return {"middle": mid, "upper": mid + width, "lower": mid - width}


def stochastic(high: FloatArray, low: FloatArray, close: FloatArray, k_period: int, d_period: int) -> Outputs:
    hh = rolling_max(high, k_period)
    ll = rolling_min(low, k_period)
    rng = hh - ll
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(rng > 0.0, 100.0 * (close - ll) / rng, 50.0)
    k[: min(k_period - 1, k.shape[0])] = np.nan
    return {"k": k, "d": sma(k, d_period, start=k_period - 1)}


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
    n = high.shape[0]
    upper = _nan(n)
    lower = _nan(n)
    if period < n:
        upper[period:] = rolling_max(high, period)[period - 1 : -1]
        lower[period:] = rolling_min(low, period)[period - 1 : -1]
    return {"middle": (upper + lower) / 2.0, "upper": upper, "lower": lower}


def roc(x: FloatArray, period: int) -> FloatArray:
    n = x.shape[0]
    out = _nan(n)
    if period < n:
        prev = x[:-period]
        with np.errstate(divide="ignore", invalid="ignore"):
            vals = 100.0 * (x[period:] / prev - 1.0)
        out[period:] = np.where(prev != 0.0, vals, np.nan)
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
