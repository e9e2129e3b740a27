"""Hypothesis strategies: random bar sets and random (valid) strategy specs."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from backtest_shared.engine import OHLCV
from backtest_shared.engine import StrategySpec
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import synthetic_ohlcv

SOURCES = ("close", "open", "hl2", "hlc3")


@st.composite
def ohlcv_data(draw: st.DrawFn, min_bars: int = 80, max_bars: int = 300) -> OHLCV:
    n = draw(st.integers(min_bars, max_bars))
    seed = draw(st.integers(0, 2**32 - 1))
    vol = draw(st.sampled_from([0.2, 0.6, 1.5]))
    return synthetic_ohlcv(n, seed=seed, annual_volatility=vol, bar_seconds=3600)


@st.composite
def indicator(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "sma",
                "ema",
                "wma",
                "rsi",
                "macd",
                "bollinger",
                "atr",
                "stochastic",
                "supertrend",
                "donchian",
                "roc",
            ]
        )
    )
    period = draw(st.integers(1, 25))
    src = draw(st.sampled_from(SOURCES))
    if kind in ("sma", "ema", "wma"):
        return {"kind": kind, "period": period, "source": src}
    if kind in ("rsi", "roc"):
        return {"kind": kind, "period": period, "source": src}
    if kind == "macd":
        fast = draw(st.integers(1, 10))
        return {
            "kind": kind,
            "fast": fast,
            "slow": fast + draw(st.integers(1, 10)),
            "signal": draw(st.integers(1, 8)),
            "source": src,
        }
    if kind == "bollinger":
        return {
            "kind": kind,
            "period": period,
            "stddev": draw(st.sampled_from([1.0, 2.0])),
            "source": src,
        }
    if kind == "stochastic":
        return {"kind": kind, "k_period": period, "d_period": draw(st.integers(1, 5))}
    if kind == "supertrend":
        return {
            "kind": kind,
            "period": period,
            "multiplier": draw(st.sampled_from([1.0, 3.0])),
        }
    return {"kind": kind, "period": period}


_OUT = {
    "macd": ("line", "signal", "hist"),
    "bollinger": ("middle", "upper", "lower"),
    "stochastic": ("k", "d"),
    "supertrend": ("value", "direction"),
    "donchian": ("middle", "upper", "lower"),
}
_PRICE_LIKE = {"sma", "ema", "wma", "bollinger", "supertrend", "donchian"}


@st.composite
def condition(draw: st.DrawFn, inds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    kind = draw(st.sampled_from(["crosses_above", "crosses_below", "greater_than", "less_than"]))
    price_refs = ["close", "open", "high", "low"]
    refs = list(price_refs)
    for name, ind in inds.items():
        fields = _OUT.get(ind["kind"])
        refs.append(name if fields is None else f"{name}.{draw(st.sampled_from(fields))}")
    left = draw(st.sampled_from(refs))
    name = left.split(".")[0]
    if name in inds and inds[name]["kind"] not in _PRICE_LIKE:
        consts = {
            "rsi": [30.0, 50.0, 70.0],
            "stochastic": [20.0, 50.0, 80.0],
            "roc": [-0.5, 0.0, 0.5],
            "macd": [0.0],
            "atr": [0.5, 1.0],
        }
        right: Any = draw(st.sampled_from(consts.get(inds[name]["kind"], [0.0])))
    else:
        price_series = [r for r in refs if r.split(".")[0] not in inds or inds[r.split(".")[0]]["kind"] in _PRICE_LIKE]
        right = draw(st.sampled_from([*price_series, 100.0]))
    return {"kind": kind, "left": left, "right": right}


@st.composite
def strategy_spec(draw: st.DrawFn, stops: bool = True) -> StrategySpec:
    names = ["a", "b", "c"][: draw(st.integers(0, 3))]
    inds = {name: draw(indicator()) for name in names}
    entry = draw(st.lists(condition(inds), min_size=1, max_size=2))
    exit_ = draw(st.lists(condition(inds), min_size=0, max_size=2))
    pct = st.one_of(st.none(), st.sampled_from([0.3, 1.0, 2.0, 5.0])) if stops else st.none()
    money = {
        "position_size": draw(st.sampled_from([0.25, 1.0])),
        "leverage": draw(st.sampled_from([1.0, 3.0])),
        "stop_loss_pct": draw(pct),
        "take_profit_pct": draw(pct),
        "trailing_stop_pct": draw(pct),
    }
    return decode_strategy(
        {
            "indicators": inds,
            "entry": {
                "combine": draw(st.sampled_from(["all", "any"])),
                "conditions": entry,
            },
            "exit": {
                "combine": draw(st.sampled_from(["all", "any"])),
                "conditions": exit_,
            },
            "direction": draw(st.sampled_from(["long", "short", "both"])),
            "money": money,
            "costs": {
                "fee_bps": draw(st.sampled_from([0.0, 10.0])),
                "slippage_bps": draw(st.sampled_from([0.0, 5.0])),
            },
        }
    )
