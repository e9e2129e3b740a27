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
    direction: str  # "long" | "short" | "both"
    fraction: float  # position_size * leverage
    fee: float  # per side, as a fraction of notional
    slippage: float  # as a fraction of price
    stop: float | None = None  # fractions (0.02 = 2 %)
    target: float | None = None
    trail: float | None = None


@dataclass(frozen=True)
class Schedule:
    entry_bar: IntArray
    exit_bar: IntArray
    side: npt.NDArray[np.int8]
    entry_price: FloatArray
    exit_price: FloatArray
    reason: npt.NDArray[np.int8]

    @property
    def size(self) -> int:
        return int(self.entry_bar.shape[0])

    def head(self, m: int) -> Schedule:
        return Schedule(
            self.entry_bar[:m],
            self.exit_bar[:m],
            self.side[:m],
            self.entry_price[:m],
            self.exit_price[:m],
            self.reason[:m],
        )


def _side_signals(
    entry: BoolArray, exit_: BoolArray, direction: str
) -> tuple[BoolArray, BoolArray, BoolArray, BoolArray]:
    """(enter_long, enter_short, exit_long, exit_short)."""
    none = np.zeros(entry.shape[0], dtype=bool)
    go = entry & ~exit_
    if direction == "long":
        return go, none, exit_, none
    if direction == "short":
        return none, go, none, exit_
    go_short = exit_ & ~entry
    return go, go_short, go_short, go


def _first_at_or_after(indices: IntArray, start: IntArray, n: int) -> IntArray:
    ext = np.append(indices, n)
    return ext[np.searchsorted(indices, start)]


class _Bars:
    """Open/high/low/close plus the scalar per-candidate scan."""

    def __init__(
        self,
        o: FloatArray,
        h: FloatArray,
        lo: FloatArray,
        c: FloatArray,
        cfg: SimConfig,
    ) -> None:
        self.o, self.h, self.lo, self.c, self.cfg = o, h, lo, c, cfg

    def scan(self, j: int, w: int, side: int, pe: float) -> tuple[int, float, int]:
        """First stop/target event in bars j..w: (bar, raw price, reason) or (-1, 0, 0)."""
        cfg = self.cfg
        if cfg.stop is None and cfg.target is None and cfg.trail is None:
            return -1, 0.0, 0
        sign = float(side)
        inf = np.inf
        # long space: adverse series a (low), favourable f (high), open o
        fixed = -inf if cfg.stop is None else sign * pe * (1.0 - sign * cfg.stop)
        tgt = inf if cfg.target is None else sign * pe * (1.0 + sign * cfg.target)
        peak = sign * pe
        lo = j
        chunk = 64
        while lo <= w:
            hi = min(w + 1, lo + chunk)
            if side > 0:
                adv, fav, opn = self.lo[lo:hi], self.h[lo:hi], self.o[lo:hi]
            else:
                adv, fav, opn = -self.h[lo:hi], -self.lo[lo:hi], -self.o[lo:hi]
            if cfg.trail is not None:
                best = np.maximum.accumulate(np.concatenate(([peak], fav[:-1])))
                best = np.maximum(best, peak)
                trail_lvl = best * (1.0 - cfg.trail) if side > 0 else best * (1.0 + cfg.trail)
                stop_lvl = np.maximum(trail_lvl, fixed)
                is_trail = trail_lvl > fixed
                peak = max(peak, float(fav.max()))
            else:
                stop_lvl = np.full(hi - lo, fixed)
                is_trail = np.zeros(hi - lo, dtype=bool)
            hit = (adv <= stop_lvl) | (fav >= tgt)
            if hit.any():
                i = int(np.argmax(hit))
                k = lo + i
                s_lvl = float(stop_lvl[i])
                stop_reason = TRAILING_STOP if bool(is_trail[i]) else STOP_LOSS
                if opn[i] <= s_lvl:
                    return k, sign * float(opn[i]), stop_reason
                if opn[i] >= tgt:
                    return k, sign * float(opn[i]), TAKE_PROFIT
                if adv[i] <= s_lvl:
                    return k, sign * s_lvl, stop_reason
                return k, sign * tgt, TAKE_PROFIT
            lo = hi
            chunk *= 4
        return -1, 0.0, 0


def _vector_scan(
    bars: _Bars, j: IntArray, w: IntArray, side: npt.NDArray[np.int8], pe: FloatArray
) -> tuple[IntArray, FloatArray, npt.NDArray[np.int8]]:
    """Fixed stop/target for all candidates at once (flattened windows)."""
    cfg = bars.cfg
    m = j.shape[0]
    lens = w - j + 1
    total = int(lens.sum())
    offsets = np.cumsum(lens) - lens
    pos = np.arange(total, dtype=np.int64) + np.repeat(j - offsets, lens)
    sign = side.astype(np.float64)
    mixed = bool((side > 0).any() and (side < 0).any())
    stop_l = -np.inf * np.ones(m) if cfg.stop is None else sign * pe * (1.0 - sign * cfg.stop)
    tgt_l = np.inf * np.ones(m) if cfg.target is None else sign * pe * (1.0 + sign * cfg.target)
    if mixed:
        srep = np.repeat(side > 0, lens)
        adv = np.where(srep, bars.lo[pos], -bars.h[pos])
        fav = np.where(srep, bars.h[pos], -bars.lo[pos])
    elif m and side[0] > 0:
        adv, fav = bars.lo[pos], bars.h[pos]
    else:
        adv, fav = -bars.h[pos], -bars.lo[pos]
    hit = np.zeros(total, dtype=bool)
    if cfg.stop is not None:
        hit |= adv <= np.repeat(stop_l, lens)
    if cfg.target is not None:
        hit |= fav >= np.repeat(tgt_l, lens)
    hits = np.flatnonzero(hit)
    first = np.searchsorted(hits, offsets)
    found = first < hits.shape[0]
    found[found] &= hits[first[found]] < (offsets + lens)[found]
    k = np.full(m, -1, dtype=np.int64)
    price = np.zeros(m)
    reason = np.zeros(m, dtype=np.int8)
    if found.any():
        kk = pos[hits[first[found]]]
        sg = sign[found]
        o = sg * bars.o[kk]
        a = np.where(sg > 0, bars.lo[kk], -bars.h[kk])
        sl, tl = stop_l[found], tgt_l[found]
        conds = [o <= sl, o >= tl, a <= sl]
        price[found] = sg * np.select(conds, [o, o, sl], tl)
        reason[found] = np.select(conds, [STOP_LOSS, TAKE_PROFIT, STOP_LOSS], TAKE_PROFIT)
        k[found] = kk
    return k, price, reason


def schedule_trades(
    o: FloatArray,
    h: FloatArray,
    lo: FloatArray,
    c: FloatArray,
    entry: BoolArray,
    exit_: BoolArray,
    cfg: SimConfig,
    *,
    vector_budget: float = 3.0,
) -> Schedule:
    """Trade schedule from entry/exit signals (see module docstring)."""
    n = c.shape[0]
    en_l, en_s, ex_l, ex_s = _side_signals(entry, exit_, cfg.direction)
    any_entry = en_l | en_s if cfg.direction == "both" else (en_l if cfg.direction == "long" else en_s)
    cand = np.flatnonzero(any_entry[: n - 1])
    m = cand.shape[0]
    side = np.where(en_l[cand], 1, -1).astype(np.int8)
    j = cand + 1
    e = (
        np.where(
            side > 0,
            _first_at_or_after(np.flatnonzero(ex_l), j, n),
            _first_at_or_after(np.flatnonzero(ex_s), j, n),
        )
        if cfg.direction == "both"
        else _first_at_or_after(np.flatnonzero(ex_l if cfg.direction == "long" else ex_s), j, n)
    )
    eod = e >= n - 1
    w = np.where(eod, n - 1, e)
    nat_bar = np.where(eod, n - 1, e + 1)
    nat_price = np.where(eod, c[n - 1], o[np.minimum(e + 1, n - 1)])
    nat_reason = np.where(eod, END_OF_DATA, SIGNAL).astype(np.int8)
    nat_next = np.where(eod, n, e)
    pe = o[j] * (1.0 + side * cfg.slippage)
    bars = _Bars(o, h, lo, c, cfg)
    has_exits = cfg.stop is not None or cfg.target is not None or cfg.trail is not None
    budget = vector_budget * n + 1024 if vector_budget >= 0 else -1.0
    windows = float((w - j + 1).sum()) if has_exits else 0.0
    vector = cfg.trail is None and windows <= budget
    if vector:
        if has_exits:
            k, kprice, kreason = _vector_scan(bars, j, w, side, pe)
            hit = k >= 0
            exit_bar = np.where(hit, k, nat_bar)
            raw_price = np.where(hit, kprice, nat_price)
            reason = np.where(hit, kreason, nat_reason).astype(np.int8)
            nxt_bar = np.where(hit, k, nat_next)
        else:
            exit_bar, raw_price, reason, nxt_bar = (
                nat_bar,
                nat_price,
                nat_reason,
                nat_next,
            )
        nxt = np.searchsorted(cand, nxt_bar).tolist()
        chosen: list[int] = []
        i = 0
        while i < m:
            chosen.append(i)
            i = nxt[i]
        sel = np.asarray(chosen, dtype=np.int64)
        return Schedule(
            j[sel],
            exit_bar[sel].astype(np.int64),
            side[sel],
            pe[sel],
            raw_price[sel] * (1.0 - side[sel] * cfg.slippage),
            reason[sel],
        )
    return _lazy_schedule(bars, cand, j, w, side, pe, nat_bar, nat_price, nat_reason, nat_next)


def _lazy_schedule(
    bars: _Bars,
    cand: IntArray,
    j: IntArray,
    w: IntArray,
    side: npt.NDArray[np.int8],
    pe: FloatArray,
    nat_bar: IntArray,
    nat_price: FloatArray,
    nat_reason: npt.NDArray[np.int8],
    nat_next: IntArray,
) -> Schedule:
    """Per-trade loop (numpy scans inside); used for trailing stops or when
    candidate windows overlap too much for the flattened vector scan."""
    slip = bars.cfg.slippage
    cand_l = cand.tolist()
    m = len(cand_l)
    rows: list[tuple[int, int, int, float, float, int]] = []
    i = 0
    while i < m:
        ji, wi, si, pi = int(j[i]), int(w[i]), int(side[i]), float(pe[i])
        k, price, reason = bars.scan(ji, wi, si, pi)
        if k >= 0:
            rows.append((ji, k, si, pi, price * (1.0 - si * slip), reason))
            nxt = k
        else:
            raw = float(nat_price[i])
            rows.append(
                (
                    ji,
                    int(nat_bar[i]),
                    si,
                    pi,
                    raw * (1.0 - si * slip),
                    int(nat_reason[i]),
                )
            )
            nxt = int(nat_next[i])
        i = bisect.bisect_left(cand_l, nxt, lo=i + 1)
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), (), ()]
    return Schedule(
        np.asarray(cols[0], dtype=np.int64),
        np.asarray(cols[1], dtype=np.int64),
        np.asarray(cols[2], dtype=np.int8),
        np.asarray(cols[3], dtype=np.float64),
        np.asarray(cols[4], dtype=np.float64),
        np.asarray(cols[5], dtype=np.int8),
    )
