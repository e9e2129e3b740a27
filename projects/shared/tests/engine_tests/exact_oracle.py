"""Rational-arithmetic oracle: indicator values and signals with no rounding at all.

Every float input is converted to a ``Fraction`` (exact), so averages,
weighted averages, channels and rates of change are the real values of their
definitions; Bollinger comparisons square both sides instead of taking a root.
Array conventions: inputs are float64 arrays; outputs are lists (None where an
indicator is not yet defined).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Values = list[Fraction | None]


def exact(x: FloatArray) -> list[Fraction]:
    return [Fraction(value) for value in x.tolist()]


def sma(x: FloatArray, period: int) -> Values:
    values = exact(x)
    return [
        None if t < period - 1 else sum(values[t - period + 1 : t + 1], Fraction(0)) / period
        for t in range(len(values))
    ]


def wma(x: FloatArray, period: int) -> Values:
    values = exact(x)
    total = period * (period + 1) // 2
    out: Values = []
    for t in range(len(values)):
        if t < period - 1:
            out.append(None)
            continue
        window = values[t - period + 1 : t + 1]
        out.append(sum((weight * v for weight, v in enumerate(window, start=1)), Fraction(0)) / total)
    return out


def variance(x: FloatArray, period: int) -> Values:
    values = exact(x)
    out: Values = []
    for t in range(len(values)):
        if t < period - 1:
            out.append(None)
            continue
        window = values[t - period + 1 : t + 1]
        mean = sum(window, Fraction(0)) / period
        out.append(sum(((v - mean) ** 2 for v in window), Fraction(0)) / period)
    return out


def above_band(value: Fraction, middle: Fraction, multiplier: float, var: Fraction) -> int:
    """Exact sign of ``value - (middle + multiplier * sqrt(var))``."""
    gap = value - middle
    reach = Fraction(multiplier) ** 2 * var
    if gap <= 0:
        return -1 if reach > 0 or gap < 0 else 0
    return (gap * gap > reach) - (gap * gap < reach)


def stochastic_k(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> Values:
    out: Values = []
    for t in range(close.shape[0]):
        if t < period - 1:
            out.append(None)
            continue
        top = Fraction(float(high[t - period + 1 : t + 1].max()))
        bottom = Fraction(float(low[t - period + 1 : t + 1].min()))
        out.append(Fraction(50) if top == bottom else 100 * (Fraction(float(close[t])) - bottom) / (top - bottom))
    return out


def roc(x: FloatArray, period: int) -> Values:
    values = exact(x)
    return [
        None if t < period else 100 * (values[t] - values[t - period]) / values[t - period] for t in range(len(values))
    ]


def signs(left: Values, right: Values) -> list[int | None]:
    """Sign of left - right per bar (None where either is undefined)."""
    return [None if a is None or b is None else (a > b) - (a < b) for a, b in zip(left, right, strict=True)]


def crosses_above(sign: list[int | None]) -> list[bool]:
    out = [False]
    for now, before in zip(sign[1:], sign[:-1], strict=True):
        out.append(now is not None and before is not None and now > 0 and before <= 0)
    return out


def crosses_below(sign: list[int | None]) -> list[bool]:
    out = [False]
    for now, before in zip(sign[1:], sign[:-1], strict=True):
        out.append(now is not None and before is not None and now < 0 and before >= 0)
    return out
