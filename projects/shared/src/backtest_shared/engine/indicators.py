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
from numpy.lib.stride_tricks import sliding_window_view

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
_WINDOW_BUDGET = 1 << 21


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan)


def sma(x: FloatArray, period: int, start: int = 0) -> FloatArray:
    """Rolling mean; ``x[:start]`` is ignored (treated as warm-up)."""
    n = x.shape[0]
    first = start + period - 1
    if first >= n:
        return _nan(n)
    out = np.empty(n)
    out[:first] = np.nan
    csum = np.cumsum(x[start:])
    out[first] = csum[period - 1]
    np.subtract(csum[period:], csum[:-period], out=out[first + 1 :])
    out[first:] *= 1.0 / period
    return out


def recursive_smooth(x: FloatArray, alpha: float, seed_index: int, seed: float) -> FloatArray:
    """``y[s] = seed``, ``y[t] = alpha*x[t] + (1-alpha)*y[t-1]`` for t > s.

    Vectorised by blocks of 64 bars: within a block the recursion is a small
    lower-triangular matrix product; only block carries are sequential.
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
    padded[:m] = rest
    lag = np.arange(_BLOCK)[:, None] - np.arange(_BLOCK)[None, :]
    weights = np.where(lag >= 0, alpha * q ** np.maximum(lag, 0), 0.0)
    z = padded.reshape(blocks, _BLOCK) @ weights.T
    decay = q ** np.arange(1, _BLOCK + 1)
    q_block = float(decay[-1])
    carries = np.empty(blocks)
    carry = float(seed)
    last = z[:, -1].tolist()
    for b in range(blocks):
        carries[b] = carry
        carry = q_block * carry + last[b]
    z += carries[:, None] * decay[None, :]
    out[seed_index + 1 :] = z.reshape(-1)[:m]
    return out


def ema(x: FloatArray, period: int, start: int = 0) -> FloatArray:
    first = start + period - 1
    if first >= x.shape[0]:
        return _nan(x.shape[0])
    seed = float(np.mean(x[start : first + 1]))
    return recursive_smooth(x, 2.0 / (period + 1.0), first, seed)


def wilder(x: FloatArray, period: int, start: int = 0) -> FloatArray:
    first = start + period - 1
    if first >= x.shape[0]:
        return _nan(x.shape[0])
    seed = float(np.mean(x[start : first + 1]))
    return recursive_smooth(x, 1.0 / period, first, seed)


def _rolling(x: FloatArray, period: int, reduce: Callable[[npt.NDArray[np.float64]], FloatArray]) -> FloatArray:
    """Apply ``reduce`` to windows ``x[t-period+1 : t+1]`` in bounded chunks."""
    n = x.shape[0]
    out = _nan(n)
    if period > n:
        return out
    windows = sliding_window_view(x, period)
    rows = max(1, _WINDOW_BUDGET // period)
    for lo in range(0, windows.shape[0], rows):
        chunk = windows[lo : lo + rows]
        out[period - 1 + lo : period - 1 + lo + chunk.shape[0]] = reduce(chunk)
    return out


def wma(x: FloatArray, period: int) -> FloatArray:
    weights = np.arange(1.0, period + 1.0)
    weights /= weights.sum()
    return _rolling(x, period, lambda w: w @ weights)


def rolling_max(x: FloatArray, period: int) -> FloatArray:
    return _rolling(x, period, lambda w: w.max(axis=1))


def rolling_min(x: FloatArray, period: int) -> FloatArray:
    return _rolling(x, period, lambda w: w.min(axis=1))


def rolling_std(x: FloatArray, period: int) -> FloatArray:
    return _rolling(x, period, lambda w: w.std(axis=1))


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
    """SuperTrend (TradingView definition); a per-bar loop (path dependent)."""
    n = close.shape[0]
    value = _nan(n)
    direction = _nan(n)
    s = period - 1
    if s >= n:
        return {"value": value, "direction": direction}
    mid = (high + low) / 2.0
    band = multiplier * atr(high, low, close, period)
    up = (mid - band).tolist()
    dn = (mid + band).tolist()
    c = close.tolist()
    fu, fd, trend = up[s], dn[s], 1.0
    vals = [0.0] * n
    dirs = [0.0] * n
    vals[s], dirs[s] = fu, trend
    for t in range(s + 1, n):
        nfu = max(up[t], fu) if c[t - 1] > fu else up[t]
        nfd = min(dn[t], fd) if c[t - 1] < fd else dn[t]
        if trend < 0.0 and c[t] > fd:
            trend = 1.0
        elif trend > 0.0 and c[t] < fu:
            trend = -1.0
        fu, fd = nfu, nfd
        vals[t] = fu if trend > 0.0 else fd
        dirs[t] = trend
    value[s:] = vals[s:]
    direction[s:] = dirs[s:]
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
