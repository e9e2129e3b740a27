"""Rounding bounds and exact values of the series a condition can compare.

Array conventions: every series is float64 of length ``n`` (NaN in warm-up);
a bound array has the same length and satisfies, wherever the value is
finite, ``|computed - exact| <= bound``. ``u = 2**-53`` is the unit roundoff.

"Exact" means the real value of the indicator's definition evaluated on the
float64 input series (prices, volume, and hl2/hlc3/ohlc4 as rounded once to
float64). Window indicators (SMA, WMA, Bollinger, Stochastic, Donchian, ROC)
are rational (Bollinger bands: rational plus a square root) in those inputs,
so ``exact_at`` computes them with integers for the bars asked for.
Recursive indicators (EMA, RSI, ATR, MACD, SuperTrend's value) depend on the
whole history with denominators growing at every bar; they carry no exact
evaluator and are compared as computed (see docs/engine.md).

Every bound below is the first-order rounding analysis of its kernel (see
``windows``) times a safety factor of 2, which covers second-order terms for
all supported periods (period * u < 1e-10).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np
import numpy.typing as npt

from backtest_shared.engine.exact import Exact
from backtest_shared.engine.exact import segments
from backtest_shared.engine.spec import ROC
from backtest_shared.engine.spec import SMA
from backtest_shared.engine.spec import WMA
from backtest_shared.engine.spec import Bollinger
from backtest_shared.engine.spec import Donchian
from backtest_shared.engine.spec import Indicator
from backtest_shared.engine.spec import Stochastic
from backtest_shared.engine.spec import SuperTrend
from backtest_shared.engine.windows import UNIT_ROUNDOFF
from backtest_shared.engine.windows import rolling_max
from backtest_shared.engine.windows import rolling_min

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
ExactAt = Callable[[Sequence[int]], list[Exact]]

__all__ = ["Certified", "certify_constant", "certify_indicator", "certify_price"]

_U = UNIT_ROUNDOFF


@dataclass(frozen=True)
class Certified:
    """A series, a bound on its rounding error, and its exact values on demand.

    ``bound()`` is 0.0 for series that are exact floats (prices, channel
    edges); ``exact_at`` is None when no exact value is available.
    """

    values: FloatArray
    bound: Callable[[], FloatArray | float]
    exact_at: ExactAt | None
    relative: float | None = None

    @cached_property
    def max_bound(self) -> float:
        """An upper bound of ``bound()`` over all bars (NaN bars ignored).

        For a relative bound ``relative * |value|`` it needs no temporary
        array. Computed once per series (a sweep compares one series often).
        """
        if self.relative is not None:
            largest = max(abs(float(np.fmax.reduce(self.values))), abs(float(np.fmin.reduce(self.values))))
            return self.relative * largest if largest == largest else 0.0
        bound = self.bound()
        if isinstance(bound, float):
            return bound
        return float(np.fmax.reduce(bound))

    def bound_at(self, bars: IntArray) -> FloatArray:
        """``bound()`` at ``bars`` only (the full array is built only for absolute bounds)."""
        if self.relative is not None:
            return self.relative * np.abs(self.values[bars])
        bound = self.bound()
        if isinstance(bound, float):
            return np.full(bars.shape[0], bound)
        return bound[bars]


def _float_values(values: FloatArray) -> ExactAt:
    def at(bars: Sequence[int]) -> list[Exact]:
        return [Exact(Fraction(value)) for value in values[list(bars)].tolist()]

    return at


def _relative(values: FloatArray, factor: float, exact_at: ExactAt) -> Certified:
    return Certified(values, lambda: factor * np.abs(values), exact_at, relative=factor)


def certify_price(values: FloatArray) -> Certified:
    """A price field or derived price: exact as stored."""
    return Certified(values, lambda: 0.0, _float_values(values))


def certify_constant(value: float, n: int) -> Certified:
    """A numeric right-hand side (exact, the same on every bar)."""
    exact = Exact(Fraction(value))
    return Certified(np.full(n, value), lambda: 0.0, lambda bars: [exact] * len(bars), relative=0.0)


def _window_mean(x: FloatArray, period: int) -> ExactAt:
    def at(bars: Sequence[int]) -> list[Exact]:
        out: list[Exact] = []
        for segment, group in segments(x, bars, period):
            scale = segment.scale() / period
            out.extend(Exact(segment.window_sum(bar - period + 1, bar) * scale) for bar in group)
        return out

    return at


def _weighted_mean(x: FloatArray, period: int) -> ExactAt:
    total = period * (period + 1) // 2

    def at(bars: Sequence[int]) -> list[Exact]:
        out: list[Exact] = []
        for segment, group in segments(x, bars, period):
            scale = segment.scale() / total
            out.extend(Exact(segment.window_index_sum(bar - period + 1, bar) * scale) for bar in group)
        return out

    return at


def _band(x: FloatArray, period: int, multiplier: float, side: int) -> ExactAt:
    """mean + side * multiplier * population sd, exactly."""
    coefficient = Fraction(multiplier) * side

    def at(bars: Sequence[int]) -> list[Exact]:
        out: list[Exact] = []
        for segment, group in segments(x, bars, period, squares=True):
            scale = segment.scale() / period
            for bar in group:
                first = bar - period + 1
                total = segment.window_sum(first, bar)
                radicand = period * segment.window_square_sum(first, bar) - total * total
                out.append(Exact(total * scale, ((coefficient * scale, Fraction(radicand)),)))
        return out

    return at


def _stochastic_k(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> Callable[[int], Fraction]:
    highest = rolling_max(high, period)
    lowest = rolling_min(low, period)

    def at(bar: int) -> Fraction:
        top, bottom = Fraction(float(highest[bar])), Fraction(float(lowest[bar]))
        if top == bottom:
            return Fraction(50)
        return 100 * (Fraction(float(close[bar])) - bottom) / (top - bottom)

    return at


def _stochastic(ind: Stochastic, output: str, ohlc: tuple[FloatArray, FloatArray, FloatArray]) -> ExactAt:
    k_at = _stochastic_k(*ohlc, ind.k_period)
    if output == "k":
        return lambda bars: [Exact(k_at(bar)) for bar in bars]
    span = ind.d_period

    def d_at(bars: Sequence[int]) -> list[Exact]:
        cache: dict[int, Fraction] = {}
        out: list[Exact] = []
        for bar in bars:
            for back in range(bar - span + 1, bar + 1):
                if back not in cache:
                    cache[back] = k_at(back)
            out.append(Exact(sum((cache[back] for back in range(bar - span + 1, bar + 1)), Fraction(0)) / span))
        return out

    return d_at


def _roc(x: FloatArray, period: int) -> ExactAt:
    def at(bars: Sequence[int]) -> list[Exact]:
        out: list[Exact] = []
        for bar in bars:
            before = Fraction(float(x[bar - period]))
            out.append(Exact(100 * (Fraction(float(x[bar])) - before) / before))
        return out

    return at


def _donchian_middle(upper: FloatArray, lower: FloatArray) -> ExactAt:
    def at(bars: Sequence[int]) -> list[Exact]:
        return [Exact((Fraction(float(upper[bar])) + Fraction(float(lower[bar]))) / 2) for bar in bars]

    return at


def certify_indicator(
    ind: Indicator,
    output: str,
    outputs: dict[str, FloatArray],
    source: Callable[[str], FloatArray],
    ohlc: tuple[FloatArray, FloatArray, FloatArray],
) -> Certified:
    """Bound and exact evaluator of one indicator output (see module doc)."""
    values = outputs[output]
    if isinstance(ind, SMA) or (isinstance(ind, Bollinger) and output == "middle"):
        factor = 2.0 * (ind.period + 2) * _U
        return _relative(values, factor, _window_mean(source(ind.source), ind.period))
    if isinstance(ind, WMA):
        factor = 2.0 * (ind.period + 4) * _U
        return _relative(values, factor, _weighted_mean(source(ind.source), ind.period))
    if isinstance(ind, Bollinger):
        middle, width = outputs["middle"], outputs["upper"] - outputs["lower"]
        factor = 2.0 * (ind.period + 6) * _U

        def band_bound() -> FloatArray:
            return factor * ((1.0 + ind.stddev) * np.abs(middle) + np.abs(width))

        side = 1 if output == "upper" else -1
        return Certified(values, band_bound, _band(source(ind.source), ind.period, ind.stddev, side))
    if isinstance(ind, Stochastic):
        factor = 16.0 * _U if output == "k" else 2.0 * (ind.d_period + 10) * _U
        return _relative(values, factor, _stochastic(ind, output, ohlc))
    if isinstance(ind, Donchian):
        if output == "middle":
            return _relative(values, 2.0 * _U, _donchian_middle(outputs["upper"], outputs["lower"]))
        return certify_price(values)
    if isinstance(ind, ROC):
        return Certified(values, lambda: 8.0 * _U * (100.0 + np.abs(values)), _roc(source(ind.source), ind.period))
    if isinstance(ind, SuperTrend) and output == "direction":
        return certify_price(values)
    return Certified(values, lambda: 0.0, None)
