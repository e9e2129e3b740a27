"""Series resolution (with an indicator cache) and rule evaluation.

Array conventions: every series is a float64 array of length ``n`` (NaN during
indicator warm-up); every signal is a bool array of length ``n`` where
``signal[i]`` means "the rule holds on the close of bar i". NaN policy: any
comparison involving NaN is false, and signals before ``warmup_bars(spec)``
are forced to false. ``crosses_above`` at bar i means
``left[i] > right[i] and left[i-1] <= right[i-1]`` (``crosses_below`` mirrors
it); it is never true at bar 0.

Comparisons are decided on exact values: each operand carries a rigorous
bound on its rounding error (``exactness``); where ``|left - right|`` exceeds
the sum of both bounds the float comparison is already exact, and only the
remaining bars are decided with integer/rational arithmetic (``exact``). So
equal window averages never cross, whatever the price level. Operands from
recursive indicators (EMA, RSI, ATR, MACD, SuperTrend value) have no exact
value and are compared as computed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from backtest_shared.engine.data import OHLCV
from backtest_shared.engine.exact import sign
from backtest_shared.engine.exactness import Certified
from backtest_shared.engine.exactness import certify_constant
from backtest_shared.engine.exactness import certify_indicator
from backtest_shared.engine.exactness import certify_price
from backtest_shared.engine.indicators import Outputs
from backtest_shared.engine.indicators import compute_indicator
from backtest_shared.engine.spec import Condition
from backtest_shared.engine.spec import Indicator
from backtest_shared.engine.spec import Rule
from backtest_shared.engine.spec import StrategySpec
from backtest_shared.engine.spec import indicator_outputs
from backtest_shared.engine.spec import warmup_bars

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
# ``compare`` results (read by sign) by (left ref, right ref or constant), within one spec.
SignMemo = dict[tuple[str, str | float], FloatArray]

__all__ = ["SeriesCache", "compare", "evaluate_condition", "evaluate_rule", "strategy_signals"]


class SeriesCache:
    """Price fields and indicator outputs for one data set, computed once.

    Indicators are keyed by their (frozen, hashable) spec struct, so the same
    indicator with the same parameters under different names or in different
    specs of a sweep is computed only once.
    """

    def __init__(self, data: OHLCV) -> None:
        self.data = data
        self.n = data.n_bars
        self._prices: dict[str, FloatArray] = {}
        self._indicators: dict[Indicator, Outputs] = {}
        self._certified: dict[tuple[Indicator | None, str], Certified] = {}

    @property
    def indicator_count(self) -> int:
        """Distinct indicators held; a long-lived cache is bounded by this (each holds arrays of ``n``)."""
        return len(self._indicators)

    def price(self, name: str) -> FloatArray:
        cached = self._prices.get(name)
        if cached is not None:
            return cached
        bars = self.data
        if name in ("open", "high", "low", "close", "volume"):
            values: FloatArray = getattr(bars, name)
        elif name == "hl2":
            values = (bars.high + bars.low) / 2.0
        elif name == "hlc3":
            values = (bars.high + bars.low + bars.close) / 3.0
        elif name == "ohlc4":
            values = (bars.open + bars.high + bars.low + bars.close) / 4.0
        else:
            raise KeyError(name)
        self._prices[name] = values
        return values

    def indicator(self, ind: Indicator) -> Outputs:
        cached = self._indicators.get(ind)
        if cached is None:
            bars = self.data
            cached = compute_indicator(ind, self.price, (bars.high, bars.low, bars.close))
            self._indicators[ind] = cached
        return cached

    def series(self, spec: StrategySpec, ref: str) -> FloatArray:
        """Resolve ``"close"``, ``"fast"`` or ``"macd.signal"``."""
        if ref in self._prices or ("." not in ref and ref not in spec.indicators):
            return self.price(ref)
        name, _, sub = ref.partition(".")
        ind = spec.indicators[name]
        return self.indicator(ind)[sub or indicator_outputs(ind)[0]]

    def certified(self, spec: StrategySpec, ref: str) -> Certified:
        """``series(spec, ref)`` with its rounding bound and exact values."""
        if ref in self._prices or ("." not in ref and ref not in spec.indicators):
            key: tuple[Indicator | None, str] = (None, ref)
            found = self._certified.get(key)
            if found is None:
                found = certify_price(self.price(ref))
        else:
            name, _, sub = ref.partition(".")
            ind = spec.indicators[name]
            output = sub or indicator_outputs(ind)[0]
            key = (ind, output)
            found = self._certified.get(key)
            if found is None:
                bars = self.data
                ohlc = (bars.high, bars.low, bars.close)
                found = certify_indicator(ind, output, self.indicator(ind), self.price, ohlc)
        self._certified[key] = found
        return found


def compare(left: Certified, right: Certified) -> FloatArray:
    """Per bar, a value whose sign is the exact sign of ``left - right`` (NaN if either is NaN).

    Floats decide every bar where the difference exceeds both rounding
    bounds (the value there is the float difference); the remaining bars
    (near-ties) are decided exactly and hold -1.0, 0.0 or 1.0. Only signs
    are read downstream, so no separate sign array is built.
    """
    difference = left.values - right.values
    if left.exact_at is None or right.exact_at is None:
        return difference
    # Screen with the largest bound first (no |difference| array), then the
    # per-bar bound on the few candidates.
    screen = left.max_bound + right.max_bound
    near = np.less_equal(difference, screen)
    np.logical_and(near, np.greater_equal(difference, -screen), out=near)
    if not near.any():
        return difference
    candidates = np.flatnonzero(near)
    tolerance = left.bound_at(candidates) + right.bound_at(candidates)
    bars = candidates[np.abs(difference[candidates]) <= tolerance].tolist()
    if not bars:
        return difference
    left_exact = left.exact_at(bars)
    right_exact = right.exact_at(bars)
    difference[bars] = [sign(a - b) for a, b in zip(left_exact, right_exact, strict=True)]
    return difference


def _signs(cache: SeriesCache, spec: StrategySpec, cond: Condition, memo: SignMemo | None) -> FloatArray:
    """``compare`` of the condition's operands, reused for the same (or swapped) pair.

    Only the signs of the returned array are meaningful.
    """
    pair = (cond.left, cond.right)
    if memo is not None:
        found = memo.get(pair)
        if found is not None:
            return found
        if isinstance(cond.right, str):
            swapped = memo.get((cond.right, cond.left))
            if swapped is not None:
                return np.negative(swapped)
    left = cache.certified(spec, cond.left)
    if isinstance(cond.right, str):
        right = cache.certified(spec, cond.right)
    else:
        right = certify_constant(float(cond.right), cache.n)
    signs = compare(left, right)
    if memo is not None:
        memo[pair] = signs
    return signs


def evaluate_condition(
    cache: SeriesCache, spec: StrategySpec, cond: Condition, memo: SignMemo | None = None
) -> BoolArray:
    """The condition on every bar; ``memo`` shares comparisons between the conditions of one spec."""
    signs = _signs(cache, spec, cond, memo)
    if cond.kind == "greater_than":
        return np.greater(signs, 0.0)
    if cond.kind == "less_than":
        return np.less(signs, 0.0)
    out = np.zeros(cache.n, dtype=bool)
    if cond.kind == "crosses_above":
        np.logical_and(np.greater(signs[1:], 0.0), np.less_equal(signs[:-1], 0.0), out=out[1:])
    else:
        np.logical_and(np.less(signs[1:], 0.0), np.greater_equal(signs[:-1], 0.0), out=out[1:])
    return out


def evaluate_rule(cache: SeriesCache, spec: StrategySpec, rule: Rule, memo: SignMemo | None = None) -> BoolArray:
    """Conditions combined with all/any; an empty rule is never true."""
    if not rule.conditions:
        return np.zeros(cache.n, dtype=bool)
    result = evaluate_condition(cache, spec, rule.conditions[0], memo)
    combine = np.logical_and if rule.combine == "all" else np.logical_or
    for cond in rule.conditions[1:]:
        combine(result, evaluate_condition(cache, spec, cond, memo), out=result)
    return result


def strategy_signals(cache: SeriesCache, spec: StrategySpec) -> tuple[BoolArray, BoolArray]:
    """(entry, exit) signals on bar closes, false during warm-up."""
    warm = warmup_bars(spec)
    # Entry and exit usually compare the same pair (crosses above / below): compare it once.
    memo: SignMemo = {}
    entry = evaluate_rule(cache, spec, spec.entry, memo)
    exit_ = evaluate_rule(cache, spec, spec.exit, memo)
    entry[:warm] = False
    exit_[:warm] = False
    return entry, exit_
