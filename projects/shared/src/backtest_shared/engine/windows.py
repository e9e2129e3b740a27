"""Rolling-window kernels whose rounding error is bounded by the window alone.

Array conventions: inputs are 1-D float64 arrays of length ``n`` (finite);
outputs are float64 arrays of length ``n`` whose first ``period - 1`` entries
are NaN (the window is not full yet).

Why not a running cumulative sum: ``cumsum[t] - cumsum[t - period]`` carries
the rounding error of *everything summed so far*, so equal windows give
unequal averages, old history leaks into later values and large early values
overflow the sum. Here every window value is combined only from numbers
inside that window (van Herk / Gil-Werman blocks: the series is cut into
blocks of ``period`` bars; a window is the suffix of one block plus the prefix
of the next), so for a window of ``p`` values the sum is a recursive sum of
exactly those ``p`` values and its error is at most ``(p-1) u sum|x|`` with
``u = 2**-53``. Max and min are exact (no rounding at all).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "UNIT_ROUNDOFF",
    "rolling_max",
    "rolling_min",
    "rolling_std",
    "sma",
    "window_sum",
    "wma",
]

UNIT_ROUNDOFF = 2.0**-53
_WINDOW_BUDGET = 1 << 21
_COLUMN_LOOP_LIMIT = 256
# A tile holds about _TILE_VALUES values (in cache) and at least _TILE_BLOCKS
# blocks, so each vector step is long enough to amortise its Python call.
_TILE_VALUES = 1 << 16
_TILE_BLOCKS = 1024


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan)


def _column_windows(x: FloatArray, period: int, scan: np.ufunc, divisor: float | None) -> FloatArray:
    """``scan`` over each window, blocks stored column by column (short periods).

    ``columns[c, b]`` is bar ``c`` of block ``b``, so every step of the
    within-block scans is one contiguous vector operation across all blocks.
    The window ending at bar ``b*period + c`` (``c < period - 1``) is the
    suffix of block ``b-1`` from bar ``c+1`` combined with the prefix of block
    ``b`` up to bar ``c``; the window ending on a block's last bar is that
    block's full suffix. Entries before ``period - 1`` are partial windows.

    Long series are processed in tiles of about ``_TILE_VALUES`` values
    through two reused buffers that stay in cache; only the last block's
    suffix carries from one tile to the next. Tiling changes no arithmetic:
    every window combines the same partial results in the same order.
    """
    n = x.shape[0]
    blocks = -(-n // period)
    tile_blocks = max(_TILE_BLOCKS, _TILE_VALUES // period)
    single_tile = blocks <= 2 * tile_blocks
    if single_tile:
        tile_blocks = blocks
    # Column 0 of each buffer holds the previous tile's last block.
    columns_buffer = np.empty((period, tile_blocks + 1))
    suffix_buffer = np.empty((period, tile_blocks + 1))
    # One tile: its consumed suffixes' buffer receives the result (one array less).
    out = suffix_buffer.reshape(-1)[: blocks * period] if single_tile else np.empty(blocks * period)
    for first_block in range(0, blocks, tile_blocks):
        count = min(blocks, first_block + tile_blocks) - first_block
        start, stop = first_block * period, (first_block + count) * period
        columns = columns_buffer[:, 1 : count + 1]
        if stop <= n:
            columns[...] = x[start:stop].reshape(count, period).T
        else:
            padded = np.zeros(stop - start)
            # Padding reaches only the suffixes of windows that are never full.
            padded[: n - start] = x[start:n]
            columns[...] = padded.reshape(count, period).T
        suffix = suffix_buffer[:, 1 : count + 1]
        suffix[period - 1] = columns[period - 1]
        for column in range(period - 2, -1, -1):
            scan(suffix[column + 1], columns[column], out=suffix[column])
        prefix = columns
        for column in range(1, period):
            scan(prefix[column - 1], prefix[column], out=prefix[column])
        if first_block == 0:
            scan(suffix[1:, :-1], prefix[:-1, 1:], out=prefix[:-1, 1:])
        else:
            scan(suffix_buffer[1:, :count], prefix[:-1], out=prefix[:-1])
        prefix[period - 1] = suffix[0]
        if not single_tile:
            suffix_buffer[:, 0] = suffix[:, -1]
        in_bar_order = out[start:stop].reshape(count, period)
        if divisor is None:
            in_bar_order[...] = prefix.T
        else:
            np.divide(prefix.T, divisor, out=in_bar_order)
    return out[:n]


def _row_windows(x: FloatArray, period: int, scan: np.ufunc, divisor: float | None) -> FloatArray:
    """``scan`` over each window, blocks stored row by row (long periods).

    Same combination as ``_column_windows``; with long blocks one
    ``accumulate`` per direction over the rows is cheaper than a loop.
    """
    n = x.shape[0]
    blocks = -(-n // period)
    padded = np.empty(blocks * period)
    padded[:n] = x
    padded[n:] = 0.0
    prefix = padded.reshape(blocks, period)
    suffix = prefix.copy()
    scan.accumulate(prefix, axis=1, out=prefix)
    reversed_rows = suffix[:, ::-1]
    scan.accumulate(reversed_rows, axis=1, out=reversed_rows)
    prefix_flat, suffix_flat = prefix.reshape(-1), suffix.reshape(-1)
    starts = n - period + 1
    # The window ending at t is written over prefix[t], the one prefix it reads.
    full = prefix_flat[period - 1 : n]
    scan(suffix_flat[:starts], full, out=full)
    full[::period] = suffix_flat[:starts:period]
    if divisor is not None:
        np.divide(full, divisor, out=full)
    return prefix_flat[:n]


def _windowed(x: FloatArray, period: int, scan: np.ufunc, divisor: float | None = None) -> FloatArray:
    """``scan`` over each full window ``x[t-period+1 .. t]`` (divided by ``divisor``), NaN before."""
    n = x.shape[0]
    if period > n:
        return _nan(n)
    if period == 1:
        return x.copy() if divisor is None else x / divisor
    if period <= _COLUMN_LOOP_LIMIT:
        out = _column_windows(x, period, scan, divisor)
    else:
        out = _row_windows(x, period, scan, divisor)
    out[: period - 1] = np.nan
    return out


def window_sum(x: FloatArray, period: int) -> FloatArray:
    """Sum of each full window; error <= (period-1) u sum|window|."""
    return _windowed(x, period, np.add)


def sma(x: FloatArray, period: int, start: int = 0) -> FloatArray:
    """Mean of the last ``period`` values; ``x[:start]`` is warm-up (ignored).

    Error bound (inputs >= 0, as all validated sources are): the result is
    within ``(period + 1) u`` times itself of the exact mean.
    """
    n = x.shape[0]
    if start + period - 1 >= n:
        return _nan(n)
    means = _windowed(x[start:], period, np.add, float(period))
    if start == 0:
        return means
    out = _nan(n)
    out[start:] = means
    return out


def rolling_max(x: FloatArray, period: int) -> FloatArray:
    """Exact maximum of each full window."""
    return _windowed(x, period, np.maximum)


def rolling_min(x: FloatArray, period: int) -> FloatArray:
    """Exact minimum of each full window."""
    return _windowed(x, period, np.minimum)


def _rolling(x: FloatArray, period: int, reduce: Callable[[FloatArray], FloatArray]) -> FloatArray:
    """Apply ``reduce`` to the rows of windows ``x[t-period+1 : t+1]`` in bounded chunks."""
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
    """Weights 1..period (newest heaviest); a dot product per window.

    Error bound (inputs >= 0): within ``(period + 3) u`` times itself.
    """
    weights = np.arange(1.0, period + 1.0)
    total = float(weights.sum())
    out = _rolling(x, period, lambda window: window @ weights)
    out /= total
    return out


def rolling_std(x: FloatArray, period: int) -> FloatArray:
    """Population standard deviation of each window (two-pass, per window).

    Error bound: ``|sd - exact| <= 1.01 (period u mean|x|) + (period + 4) u sd``
    (the mean's error plus the rounding of the squared residuals).
    """
    return _rolling(x, period, lambda window: window.std(axis=1))
