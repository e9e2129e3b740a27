"""Position state machine: turns signals into a trade schedule and equity.

Array conventions: price arrays are float64 of length ``n``; signals are bool
arrays of length ``n`` (true = rule holds on the close of that bar); a
``Schedule`` holds one entry per trade in int64/float64/int8 arrays of length
``m``; the equity curve is float64 of length ``n`` (value at each bar close).

Execution semantics (identical to docs/engine.md and the test oracle):

1. A signal on the close of bar i acts at the open of bar i+1. Entry fill =
   open * (1 + side*slippage); every exit fill = price * (1 - side*slippage)
   (side = +1 long, -1 short). Fees (fee_bps per side) are charged on the
   notional of each fill. Signals on the last bar never act.
2. Effective signals: long-only: enter = entry & ~exit, close = exit.
   Short-only: the same rules open/close a short. Both: entry & ~exit means
   "be long", exit & ~entry means "be short"; the opposite signal closes the
   position and opens the reverse one at the same open (stop-and-reverse).
   Signals are ignored while they would not change the position (no
   pyramiding).
3. Size: units = equity_before_entry * position_size * leverage / entry_fill.
4. Stops/targets are levels relative to the entry fill price and are checked
   on every bar from the entry bar up to (and including) the bar whose close
   emitted an exit signal. Within a bar, in order: (a) open at/beyond the stop
   -> exit at the open (gap); (b) open at/beyond the target -> exit at the
   open; (c) low/high touches the stop -> exit at the stop level; (d) high/low
   touches the target -> exit at the target level. So when both are touched
   inside one bar the stop wins.
5. The trailing stop of bar k trails the best price from the entry fill up
   to the previous bar's high (long) / low (short); the effective stop is the
   tighter of the fixed and trailing stop (the fixed one on a tie).
6. An exit signal on the close of bar i exits at the open of bar i+1; a stop
   touched during bar i happens before that close, so the stop wins; a stop
   touched during bar i+1 comes after the signal's fill at its open.
7. After a stop/target exit on bar k, a new entry signal on the close of k
   (or later) may open a new position at the next open.
8. A position still open after the last bar is closed at the last close
   (with slippage and fee), reason ``end_of_data``.
9. If a trade leaves equity <= 0 the account is ruined: no further trades.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SIGNAL = 0
STOP_LOSS = 1
TAKE_PROFIT = 2
TRAILING_STOP = 3
END_OF_DATA = 4
REASONS: tuple[str, ...] = (
    "signal",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "end_of_data",
)

__all__ = ["REASONS", "Schedule", "SimConfig", "schedule_trades"]


@dataclass(frozen=True)
class SimConfig:
    """The money and cost rules of a spec, as fractions."""

    direction: str  # "long" | "short" | "both"
    fraction: float  # position_size * leverage
    fee: float  # per side, as a fraction of notional
    slippage: float  # as a fraction of price
    stop: float | None = None  # fractions (0.02 = 2 %)
    target: float | None = None
    trail: float | None = None


@dataclass(frozen=True)
class Schedule:
    """One row per trade taken: bars, side (+1/-1), fills (slippage included) and exit reason code."""

    entry_bar: IntArray
    exit_bar: IntArray
    side: npt.NDArray[np.int8]
    entry_price: FloatArray
    exit_price: FloatArray
    reason: npt.NDArray[np.int8]

    @property
    def size(self) -> int:
        """Number of trades."""
        return int(self.entry_bar.shape[0])

    def head(self, count: int) -> Schedule:
        """The first ``count`` trades."""
        return Schedule(
            self.entry_bar[:count],
            self.exit_bar[:count],
            self.side[:count],
            self.entry_price[:count],
            self.exit_price[:count],
            self.reason[:count],
        )


def _side_signals(
    entry: BoolArray, exit_: BoolArray, direction: str
) -> tuple[BoolArray, BoolArray, BoolArray, BoolArray]:
    """(enter_long, enter_short, exit_long, exit_short)."""
    never = np.zeros(entry.shape[0], dtype=bool)
    enter = entry & ~exit_
    if direction == "long":
        return enter, never, exit_, never
    if direction == "short":
        return never, enter, never, exit_
    enter_short = exit_ & ~entry
    return enter, enter_short, enter_short, enter


def _first_at_or_after(bars: IntArray, start: IntArray, n: int) -> IntArray:
    """For each ``start``, the first of the sorted ``bars`` at or after it (``n`` if none)."""
    with_sentinel = np.append(bars, n)
    return with_sentinel[np.searchsorted(bars, start)]


class _Bars:
    """Open/high/low/close plus the scalar per-trade scan."""

    def __init__(
        self,
        opens: FloatArray,
        highs: FloatArray,
        lows: FloatArray,
        closes: FloatArray,
        cfg: SimConfig,
    ) -> None:
        self.opens, self.highs, self.lows, self.closes, self.cfg = opens, highs, lows, closes, cfg

    def scan(self, first_bar: int, last_bar: int, side: int, entry_fill: float) -> tuple[int, float, int]:
        """First stop/target event in bars first_bar..last_bar: (bar, raw price, reason) or (-1, 0, 0).

        Works in "long space": prices are multiplied by the side, so a short's
        adverse series is -high and its favourable series -low.
        """
        cfg = self.cfg
        if cfg.stop is None and cfg.target is None and cfg.trail is None:
            return -1, 0.0, 0
        sign = float(side)
        fixed_stop = -np.inf if cfg.stop is None else sign * entry_fill * (1.0 - sign * cfg.stop)
        target = np.inf if cfg.target is None else sign * entry_fill * (1.0 + sign * cfg.target)
        best_price = sign * entry_fill
        chunk_start = first_bar
        chunk_length = 64
        while chunk_start <= last_bar:
            chunk_stop = min(last_bar + 1, chunk_start + chunk_length)
            if side > 0:
                adverse = self.lows[chunk_start:chunk_stop]
                favourable = self.highs[chunk_start:chunk_stop]
                opening = self.opens[chunk_start:chunk_stop]
            else:
                adverse = -self.highs[chunk_start:chunk_stop]
                favourable = -self.lows[chunk_start:chunk_stop]
                opening = -self.opens[chunk_start:chunk_stop]
            if cfg.trail is not None:
                best_before = np.maximum.accumulate(np.concatenate(([best_price], favourable[:-1])))
                best_before = np.maximum(best_before, best_price)
                trail_level = best_before * (1.0 - cfg.trail) if side > 0 else best_before * (1.0 + cfg.trail)
                stop_level = np.maximum(trail_level, fixed_stop)
                trailing_is_tighter = trail_level > fixed_stop
                best_price = max(best_price, float(favourable.max()))
            else:
                stop_level = np.full(chunk_stop - chunk_start, fixed_stop)
                trailing_is_tighter = np.zeros(chunk_stop - chunk_start, dtype=bool)
            hit = (adverse <= stop_level) | (favourable >= target)
            if hit.any():
                offset = int(np.argmax(hit))
                bar = chunk_start + offset
                stop_at_bar = float(stop_level[offset])
                stop_reason = TRAILING_STOP if bool(trailing_is_tighter[offset]) else STOP_LOSS
                if opening[offset] <= stop_at_bar:
                    return bar, sign * float(opening[offset]), stop_reason
                if opening[offset] >= target:
                    return bar, sign * float(opening[offset]), TAKE_PROFIT
                if adverse[offset] <= stop_at_bar:
                    return bar, sign * stop_at_bar, stop_reason
                return bar, sign * target, TAKE_PROFIT
            chunk_start = chunk_stop
            chunk_length *= 4
        return -1, 0.0, 0


def _vector_scan(
    bars: _Bars,
    first_bars: IntArray,
    last_bars: IntArray,
    side: npt.NDArray[np.int8],
    entry_fills: FloatArray,
) -> tuple[IntArray, FloatArray, npt.NDArray[np.int8]]:
    """Fixed stop/target of every candidate trade at once.

    The candidates' windows ``first_bars[i]..last_bars[i]`` are laid end to
    end in one flat array of "slots"; the first hit slot of each window is
    its exit. Returns (exit bar or -1, raw exit price, reason) per candidate.
    """
    cfg = bars.cfg
    candidates = first_bars.shape[0]
    window_lengths = last_bars - first_bars + 1
    total_slots = int(window_lengths.sum())
    window_offsets = np.cumsum(window_lengths) - window_lengths
    bar_of_slot = np.arange(total_slots, dtype=np.int64) + np.repeat(first_bars - window_offsets, window_lengths)
    side_sign = side.astype(np.float64)
    mixed_sides = bool((side > 0).any() and (side < 0).any())
    if cfg.stop is None:
        stop_levels = -np.inf * np.ones(candidates)
    else:
        stop_levels = side_sign * entry_fills * (1.0 - side_sign * cfg.stop)
    if cfg.target is None:
        target_levels = np.inf * np.ones(candidates)
    else:
        target_levels = side_sign * entry_fills * (1.0 + side_sign * cfg.target)
    if mixed_sides:
        long_slot = np.repeat(side > 0, window_lengths)
        adverse = np.where(long_slot, bars.lows[bar_of_slot], -bars.highs[bar_of_slot])
        favourable = np.where(long_slot, bars.highs[bar_of_slot], -bars.lows[bar_of_slot])
    elif candidates and side[0] > 0:
        adverse, favourable = bars.lows[bar_of_slot], bars.highs[bar_of_slot]
    else:
        adverse, favourable = -bars.highs[bar_of_slot], -bars.lows[bar_of_slot]
    hit = np.zeros(total_slots, dtype=bool)
    if cfg.stop is not None:
        hit |= adverse <= np.repeat(stop_levels, window_lengths)
    if cfg.target is not None:
        hit |= favourable >= np.repeat(target_levels, window_lengths)
    hit_slots = np.flatnonzero(hit)
    first_hit = np.searchsorted(hit_slots, window_offsets)
    found = first_hit < hit_slots.shape[0]
    found[found] &= hit_slots[first_hit[found]] < (window_offsets + window_lengths)[found]
    exit_bars = np.full(candidates, -1, dtype=np.int64)
    exit_prices = np.zeros(candidates)
    reasons = np.zeros(candidates, dtype=np.int8)
    if found.any():
        hit_bars = bar_of_slot[hit_slots[first_hit[found]]]
        hit_sign = side_sign[found]
        opening = hit_sign * bars.opens[hit_bars]
        adverse_at_hit = np.where(hit_sign > 0, bars.lows[hit_bars], -bars.highs[hit_bars])
        stop_at, target_at = stop_levels[found], target_levels[found]
        cases = [opening <= stop_at, opening >= target_at, adverse_at_hit <= stop_at]
        exit_prices[found] = hit_sign * np.select(cases, [opening, opening, stop_at], target_at)
        reasons[found] = np.select(cases, [STOP_LOSS, TAKE_PROFIT, STOP_LOSS], TAKE_PROFIT)
        exit_bars[found] = hit_bars
    return exit_bars, exit_prices, reasons


def schedule_trades(
    opens: FloatArray,
    highs: FloatArray,
    lows: FloatArray,
    closes: FloatArray,
    entry: BoolArray,
    exit_: BoolArray,
    cfg: SimConfig,
    *,
    vector_budget: float = 3.0,
) -> Schedule:
    """Trade schedule from entry/exit signals (see module docstring).

    Every bar whose close opens a position (if flat) is a candidate trade;
    each candidate's exit is found independently (signal, stop/target or end
    of data), then the trades actually taken are chained: the next trade is
    the first candidate at or after the bar where the previous one freed
    the account.
    """
    n = closes.shape[0]
    enter_long, enter_short, exit_long, exit_short = _side_signals(entry, exit_, cfg.direction)
    if cfg.direction == "both":
        any_entry = enter_long | enter_short
    else:
        any_entry = enter_long if cfg.direction == "long" else enter_short
    signal_bars = np.flatnonzero(any_entry[: n - 1])
    candidates = signal_bars.shape[0]
    side = np.where(enter_long[signal_bars], 1, -1).astype(np.int8)
    entry_bars = signal_bars + 1
    if cfg.direction == "both":
        exit_signal_bars = np.where(
            side > 0,
            _first_at_or_after(np.flatnonzero(exit_long), entry_bars, n),
            _first_at_or_after(np.flatnonzero(exit_short), entry_bars, n),
        )
    else:
        exits = exit_long if cfg.direction == "long" else exit_short
        exit_signal_bars = _first_at_or_after(np.flatnonzero(exits), entry_bars, n)
    to_end = exit_signal_bars >= n - 1
    last_checked_bar = np.where(to_end, n - 1, exit_signal_bars)
    signal_exit_bar = np.where(to_end, n - 1, exit_signal_bars + 1)
    signal_exit_price = np.where(to_end, closes[n - 1], opens[np.minimum(exit_signal_bars + 1, n - 1)])
    signal_exit_reason = np.where(to_end, END_OF_DATA, SIGNAL).astype(np.int8)
    # A signal exit at the open of bar e+1 lets the close of e open the next trade.
    signal_next_free = np.where(to_end, n, exit_signal_bars)
    entry_fills = opens[entry_bars] * (1.0 + side * cfg.slippage)
    bars = _Bars(opens, highs, lows, closes, cfg)
    has_exits = cfg.stop is not None or cfg.target is not None or cfg.trail is not None
    budget = vector_budget * n + 1024 if vector_budget >= 0 else -1.0
    window_bars = float((last_checked_bar - entry_bars + 1).sum()) if has_exits else 0.0
    vectorised = cfg.trail is None and window_bars <= budget
    if not vectorised:
        return _lazy_schedule(
            bars,
            signal_bars,
            entry_bars,
            last_checked_bar,
            side,
            entry_fills,
            signal_exit_bar,
            signal_exit_price,
            signal_exit_reason,
            signal_next_free,
        )
    if has_exits:
        hit_bar, hit_price, hit_reason = _vector_scan(bars, entry_bars, last_checked_bar, side, entry_fills)
        hit = hit_bar >= 0
        exit_bar = np.where(hit, hit_bar, signal_exit_bar)
        raw_exit_price = np.where(hit, hit_price, signal_exit_price)
        reason = np.where(hit, hit_reason, signal_exit_reason).astype(np.int8)
        next_free = np.where(hit, hit_bar, signal_next_free)
    else:
        exit_bar, raw_exit_price, reason, next_free = (
            signal_exit_bar,
            signal_exit_price,
            signal_exit_reason,
            signal_next_free,
        )
    next_candidate = np.searchsorted(signal_bars, next_free).tolist()
    taken: list[int] = []
    candidate = 0
    while candidate < candidates:
        taken.append(candidate)
        candidate = next_candidate[candidate]
    chosen = np.asarray(taken, dtype=np.int64)
    return Schedule(
        entry_bars[chosen],
        exit_bar[chosen].astype(np.int64),
        side[chosen],
        entry_fills[chosen],
        raw_exit_price[chosen] * (1.0 - side[chosen] * cfg.slippage),
        reason[chosen],
    )


def _lazy_schedule(
    bars: _Bars,
    signal_bars: IntArray,
    entry_bars: IntArray,
    last_checked_bar: IntArray,
    side: npt.NDArray[np.int8],
    entry_fills: FloatArray,
    signal_exit_bar: IntArray,
    signal_exit_price: FloatArray,
    signal_exit_reason: npt.NDArray[np.int8],
    signal_next_free: IntArray,
) -> Schedule:
    """Per-trade loop (numpy scans inside), scanning only trades actually taken.

    Used for trailing stops, or when candidate windows overlap too much for
    the flattened vector scan.
    """
    slippage = bars.cfg.slippage
    candidate_bars = signal_bars.tolist()
    candidates = len(candidate_bars)
    rows: list[tuple[int, int, int, float, float, int]] = []
    candidate = 0
    while candidate < candidates:
        entry_bar = int(entry_bars[candidate])
        trade_side = int(side[candidate])
        entry_fill = float(entry_fills[candidate])
        hit_bar, raw_price, reason = bars.scan(entry_bar, int(last_checked_bar[candidate]), trade_side, entry_fill)
        if hit_bar >= 0:
            exit_fill = raw_price * (1.0 - trade_side * slippage)
            rows.append((entry_bar, hit_bar, trade_side, entry_fill, exit_fill, reason))
            next_free = hit_bar
        else:
            raw_price = float(signal_exit_price[candidate])
            rows.append(
                (
                    entry_bar,
                    int(signal_exit_bar[candidate]),
                    trade_side,
                    entry_fill,
                    raw_price * (1.0 - trade_side * slippage),
                    int(signal_exit_reason[candidate]),
                )
            )
            next_free = int(signal_next_free[candidate])
        candidate = bisect.bisect_left(candidate_bars, next_free, lo=candidate + 1)
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), (), (), ()]
    return Schedule(
        np.asarray(columns[0], dtype=np.int64),
        np.asarray(columns[1], dtype=np.int64),
        np.asarray(columns[2], dtype=np.int8),
        np.asarray(columns[3], dtype=np.float64),
        np.asarray(columns[4], dtype=np.float64),
        np.asarray(columns[5], dtype=np.int8),
    )
