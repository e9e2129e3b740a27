"""Drawdown of an equity curve: running peak, deepest fall, longest time under water.

Array conventions: ``equity`` is a float64 array of length ``n >= 1`` (finite,
the value at each bar close). Inputs are never modified; ``max_drawdown`` writes its ratios to
``out`` when given one (numpy's convention), so a caller done with the peak
can lend its buffer.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

__all__ = ["longest_drawdown_bars", "max_drawdown", "running_peak"]

_PEAK_CHUNK = 256
_MOST_CHUNKS_RISING = 0.25


def running_peak(equity: FloatArray) -> FloatArray:
    """Highest equity so far at each bar; the values of ``np.maximum.accumulate(equity)``.

    A running maximum is a sequential scan; here the curve is cut into
    chunks of ``_PEAK_CHUNK`` bars and only the chunks that set a new high
    are scanned, the others hold the previous peak (max is exact, so the
    values are the same). An equity curve spends most chunks below its
    peak; when most chunks rise the plain scan is used.
    """
    n = equity.shape[0]
    chunks = n // _PEAK_CHUNK
    if chunks < 2:
        return np.maximum.accumulate(equity)
    cut = chunks * _PEAK_CHUNK
    rows = equity[:cut].reshape(chunks, _PEAK_CHUNK)
    chunk_high = rows.max(axis=1)
    high_through_chunk = np.maximum.accumulate(chunk_high)
    high_before_chunk = np.empty(chunks)
    high_before_chunk[0] = -np.inf
    high_before_chunk[1:] = high_through_chunk[:-1]
    rising = np.flatnonzero(chunk_high > high_before_chunk)
    if rising.shape[0] > _MOST_CHUNKS_RISING * chunks:
        return np.maximum.accumulate(equity)
    peak = np.empty(n)
    peak_rows = peak[:cut].reshape(chunks, _PEAK_CHUNK)
    peak_rows[:] = high_before_chunk[:, None]
    scanned = np.maximum.accumulate(rows[rising], axis=1)
    np.maximum(scanned, high_before_chunk[rising, None], out=scanned)
    peak_rows[rising] = scanned
    if cut < n:
        np.maximum(np.maximum.accumulate(equity[cut:]), high_through_chunk[-1], out=peak[cut:])
    return peak


def longest_drawdown_bars(equity: FloatArray, peak: FloatArray) -> int:
    """Most consecutive bars spent strictly below the running ``peak`` (0 if never)."""
    n = equity.shape[0]
    at_peak = np.flatnonzero(equity >= peak)
    return int((np.diff(np.append(at_peak, n)) - 1).max())


def max_drawdown(equity: FloatArray, peak: FloatArray, out: FloatArray | None = None) -> float:
    """Deepest fall below the running ``peak`` as a fraction (0.25 = 25 % below).

    The ratios ``equity / peak`` go to ``out`` if given (it may be ``peak``
    itself), else to a new array.
    """
    ratio = np.divide(equity, peak, out=out)
    return 1.0 - float(np.min(ratio))
