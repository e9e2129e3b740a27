"""Exact arithmetic for the few bars where floating point cannot decide a comparison.

Array conventions: inputs are float64 arrays (finite where read) and sorted
lists of bar indices; outputs are Python ``Fraction`` / ``Exact`` values, one
per requested bar.

An ``Exact`` is ``rational + sum(coef * sqrt(radicand))`` with at most two
square-root terms, enough for every comparison the engine makes: window means
and sums are rational over the float inputs, a Bollinger band is a mean plus
a multiple of the square root of a rational variance, and a comparison
subtracts two such values. ``sign`` decides the sign of such a value exactly
(by squaring, never by rounding).

Window sums are computed in integers: each float is ``m * 2**e`` with an
integer mantissa, so a segment of floats scaled by ``2**-min(e)`` is a list of
Python ints whose prefix sums are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

__all__ = ["Exact", "ScaledSegment", "segments", "sign"]


@dataclass(frozen=True)
class Exact:
    """``rational + sum(coef * sqrt(radicand) for coef, radicand in roots)``; radicands >= 0."""

    rational: Fraction
    roots: tuple[tuple[Fraction, Fraction], ...] = ()

    def __sub__(self, other: Exact) -> Exact:
        negated = tuple((-coef, radicand) for coef, radicand in other.roots)
        return Exact(self.rational - other.rational, self.roots + negated)


def _sign_of(value: Fraction) -> int:
    return (value > 0) - (value < 0)


def _sign_one_root(rational: Fraction, coef: Fraction, radicand: Fraction) -> int:
    """Sign of ``rational + coef * sqrt(radicand)``."""
    rational_sign = _sign_of(rational)
    root_sign = _sign_of(coef) if radicand > 0 else 0
    if root_sign == 0 or rational_sign == root_sign:
        return rational_sign or root_sign
    if rational_sign == 0:
        return root_sign
    # Opposite signs: the larger magnitude wins; compare squares exactly.
    return rational_sign * _sign_of(rational * rational - coef * coef * radicand)


def sign(value: Exact) -> int:
    """Exact sign (-1, 0, 1) of a value with at most two square-root terms."""
    roots = [(coef, radicand) for coef, radicand in value.roots if coef != 0 and radicand != 0]
    if not roots:
        return _sign_of(value.rational)
    if len(roots) == 1:
        return _sign_one_root(value.rational, *roots[0])
    if len(roots) > 2:
        raise ValueError("at most two square-root terms are supported")
    (coef_a, radicand_a), (coef_b, radicand_b) = roots
    if radicand_a == radicand_b:
        return _sign_one_root(value.rational, coef_a + coef_b, radicand_a)
    head_sign = _sign_one_root(value.rational, coef_a, radicand_a)
    tail_sign = _sign_of(coef_b)
    if head_sign == 0 or head_sign == tail_sign:
        return head_sign or tail_sign
    # |head|^2 - |tail|^2 = r^2 + a^2 A - b^2 B + 2 r a sqrt(A): one root left.
    rational = value.rational
    difference = _sign_one_root(
        rational * rational + coef_a * coef_a * radicand_a - coef_b * coef_b * radicand_b,
        2 * rational * coef_a,
        radicand_a,
    )
    return head_sign if difference > 0 else tail_sign if difference < 0 else 0


@dataclass(frozen=True)
class ScaledSegment:
    """Bars ``start .. start + len(ints) - 1`` of a series as exact integers.

    ``x[start + j] == ints[j] * 2**exponent`` exactly; ``sums[j]`` is the sum
    of ``ints[:j]``, ``index_sums[j]`` of ``k * ints[k]`` and ``square_sums[j]``
    of ``ints[k]**2`` over ``k < j`` (exact integers, no rounding).
    """

    start: int
    exponent: int
    ints: list[int]
    sums: list[int]
    index_sums: list[int]
    square_sums: list[int]

    def scale(self, power: int = 1) -> Fraction:
        """``2**(exponent * power)`` as a Fraction."""
        shift = self.exponent * power
        return Fraction(1 << shift) if shift >= 0 else Fraction(1, 1 << -shift)

    def window_sum(self, first: int, last: int) -> int:
        """Scaled exact sum of bars ``first..last`` (inclusive)."""
        return self.sums[last - self.start + 1] - self.sums[first - self.start]

    def window_index_sum(self, first: int, last: int) -> int:
        """Scaled exact ``sum((bar - first + 1) * x[bar])`` over ``first..last``."""
        lo, hi = first - self.start, last - self.start + 1
        offset = lo - 1
        return (self.index_sums[hi] - self.index_sums[lo]) - offset * (self.sums[hi] - self.sums[lo])

    def window_square_sum(self, first: int, last: int) -> int:
        """Scaled (by ``2**(2*exponent)``) exact sum of squares over ``first..last``."""
        return self.square_sums[last - self.start + 1] - self.square_sums[first - self.start]


def _scaled(x: FloatArray, start: int, stop: int, squares: bool) -> ScaledSegment:
    values = x[start:stop]
    mantissas, exponents = np.frexp(values)
    ints = (mantissas * 2.0**53).astype(np.int64)
    shifts = exponents.astype(np.int64) - 53
    exponent = int(shifts.min())
    exact = [mantissa << shift for mantissa, shift in zip(ints.tolist(), (shifts - exponent).tolist(), strict=True)]
    sums = list(accumulate(exact, initial=0))
    index_sums = list(accumulate((k * value for k, value in enumerate(exact)), initial=0))
    square_sums = list(accumulate((value * value for value in exact), initial=0)) if squares else []
    return ScaledSegment(start, exponent, exact, sums, index_sums, square_sums)


def segments(
    x: FloatArray, bars: Sequence[int], period: int, squares: bool = False
) -> list[tuple[ScaledSegment, list[int]]]:
    """Group sorted ``bars`` into segments covering their windows of ``period`` bars.

    Bars whose windows overlap or nearly touch share one segment, so each input
    value is converted at most once per segment.
    """
    groups: list[tuple[ScaledSegment, list[int]]] = []
    current: list[int] = []
    for bar in bars:
        if current and bar - current[-1] > 2 * period:
            groups.append((_scaled(x, current[0] - period + 1, current[-1] + 1, squares), current))
            current = []
        current.append(bar)
    if current:
        groups.append((_scaled(x, current[0] - period + 1, current[-1] + 1, squares), current))
    return groups
