"""Declarative strategy specification (msgspec structs, JSON in and out).

Array conventions: none (pure configuration). Percentages in ``money`` are in
percent (``2.0`` means 2 %), costs are in basis points per side. No user code
is ever executed: a spec only names built-in indicators and conditions.

Shape of a spec (JSON)::

    {"name": "sma_cross",
     "indicators": {"fast": {"kind": "sma", "period": 10, "source": "close"},
                    "slow": {"kind": "sma", "period": 50}},
     "entry": {"combine": "all",
               "conditions": [{"kind": "crosses_above", "left": "fast", "right": "slow"}]},
     "exit":  {"combine": "any",
               "conditions": [{"kind": "crosses_below", "left": "fast", "right": "slow"}]},
     "direction": "long",
     "money": {"position_size": 1.0, "leverage": 1.0, "stop_loss_pct": 2.0,
               "take_profit_pct": 4.0, "trailing_stop_pct": null},
     "costs": {"fee_bps": 10.0, "slippage_bps": 0.0},
     "initial_capital": 10000.0}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated
from typing import Any
from typing import Literal
from typing import Union

import msgspec

from backtest_shared.engine.errors import EngineValidationError
from backtest_shared.engine.errors import from_msgspec_error

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "PRICE_FIELDS",
    "ROC",
    "RSI",
    "SMA",
    "WMA",
    "Bollinger",
    "Condition",
    "Costs",
    "Donchian",
    "Indicator",
    "MoneyManagement",
    "Rule",
    "Stochastic",
    "StrategySpec",
    "SuperTrend",
    "decode_strategy",
    "indicator_lookback",
    "indicator_outputs",
    "strategy_to_builtins",
    "validate_strategy",
    "warmup_bars",
]

PriceField = Literal["open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4"]
PRICE_FIELDS: frozenset[str] = frozenset(("open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4"))

Period = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
Multiplier = Annotated[float, msgspec.Meta(gt=0.0, le=100.0)]


class _Ind(
    msgspec.Struct,
    tag_field="kind",
    forbid_unknown_fields=True,
    frozen=True,
    kw_only=True,
):
    """Base of all indicator specs (tagged union on ``kind``)."""


class SMA(_Ind, tag="sma", frozen=True):
    period: Period
    source: PriceField = "close"


class EMA(_Ind, tag="ema", frozen=True):
    period: Period
    source: PriceField = "close"


class WMA(_Ind, tag="wma", frozen=True):
    period: Period
    source: PriceField = "close"


class RSI(_Ind, tag="rsi", frozen=True):
    period: Period = 14
    source: PriceField = "close"


class MACD(_Ind, tag="macd", frozen=True):
    fast: Period = 12
    slow: Period = 26
    signal: Period = 9
    source: PriceField = "close"


class Bollinger(_Ind, tag="bollinger", frozen=True):
    period: Period = 20
    stddev: Multiplier = 2.0
    source: PriceField = "close"


class ATR(_Ind, tag="atr", frozen=True):
    period: Period = 14


class Stochastic(_Ind, tag="stochastic", frozen=True):
    k_period: Period = 14
    d_period: Period = 3


class SuperTrend(_Ind, tag="supertrend", frozen=True):
    period: Period = 10
    multiplier: Multiplier = 3.0


class Donchian(_Ind, tag="donchian", frozen=True):
    period: Period = 20


class ROC(_Ind, tag="roc", frozen=True):
    period: Period = 10
    source: PriceField = "close"


Indicator = Union[  # noqa: UP007 - msgspec needs a runtime union object
    SMA, EMA, WMA, RSI, MACD, Bollinger, ATR, Stochastic, SuperTrend, Donchian, ROC
]

_OUTPUTS: dict[str, tuple[str, ...]] = {
    "sma": ("value",),
    "ema": ("value",),
    "wma": ("value",),
    "rsi": ("value",),
    "macd": ("line", "signal", "hist"),
    "bollinger": ("middle", "upper", "lower"),
    "atr": ("value",),
    "stochastic": ("k", "d"),
    "supertrend": ("value", "direction"),
    "donchian": ("middle", "upper", "lower"),
    "roc": ("value",),
}


def indicator_kind(ind: Indicator) -> str:
    """The ``kind`` tag of an indicator struct."""
    tag = type(ind).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def indicator_outputs(ind: Indicator) -> tuple[str, ...]:
    """Output fields of an indicator; the first one is the default output."""
    return _OUTPUTS[indicator_kind(ind)]


def indicator_lookback(ind: Indicator) -> int:
    """Index of the first bar at which every output of ``ind`` is defined."""
    if isinstance(ind, (SMA, EMA, WMA, Bollinger, ATR, SuperTrend)):
        return ind.period - 1
    if isinstance(ind, (RSI, ROC, Donchian)):
        return ind.period
    if isinstance(ind, MACD):
        return ind.slow + ind.signal - 2
    assert isinstance(ind, Stochastic)
    return ind.k_period + ind.d_period - 2


Operand = Union[str, float]  # noqa: UP007


class Condition(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``left <kind> right`` evaluated on the close of each bar.

    ``left``/``right`` are price fields (``"close"``), indicator names (default
    output) or ``"name.field"``; ``right`` may also be a number.
    """

    kind: Literal["crosses_above", "crosses_below", "greater_than", "less_than"]
    left: str
    right: Operand


class Rule(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Conditions combined with ``all`` (AND) or ``any`` (OR); empty = never."""

    combine: Literal["all", "any"] = "all"
    conditions: tuple[Condition, ...] = ()


class MoneyManagement(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Position size as a fraction of equity, leverage, and exits in percent."""

    position_size: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] = 1.0
    leverage: Annotated[float, msgspec.Meta(ge=1.0, le=100.0)] = 1.0
    stop_loss_pct: Annotated[float, msgspec.Meta(gt=0.0, lt=100.0)] | None = None
    take_profit_pct: Annotated[float, msgspec.Meta(gt=0.0, le=1000.0)] | None = None
    trailing_stop_pct: Annotated[float, msgspec.Meta(gt=0.0, lt=100.0)] | None = None


class Costs(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Fee per side and slippage per fill, both in basis points."""

    fee_bps: Annotated[float, msgspec.Meta(ge=0.0, le=1000.0)] = 0.0
    slippage_bps: Annotated[float, msgspec.Meta(ge=0.0, le=1000.0)] = 0.0


class StrategySpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A complete declarative strategy."""

    entry: Rule
    exit: Rule = msgspec.field(default_factory=Rule)
    name: Annotated[str, msgspec.Meta(max_length=200)] = "strategy"
    indicators: dict[str, Indicator] = msgspec.field(default_factory=dict)
    direction: Literal["long", "short", "both"] = "long"
    money: MoneyManagement = msgspec.field(default_factory=MoneyManagement)
    costs: Costs = msgspec.field(default_factory=Costs)
    initial_capital: Annotated[float, msgspec.Meta(gt=0.0, le=1e15)] = 10_000.0


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _locate_indicator_error(raw: Any) -> EngineValidationError | None:
    """msgspec reports dict values as ``[...]``; find the offending key."""
    if not isinstance(raw, Mapping):
        return None
    inds = raw.get("indicators")
    if not isinstance(inds, Mapping):
        return None
    for key, value in inds.items():
        try:
            msgspec.convert(value, Indicator)
        except msgspec.ValidationError as err:
            located = from_msgspec_error(err, prefix=f"indicators.{key}")
            if located.field.endswith(".kind") and isinstance(value, Mapping):
                return EngineValidationError(
                    located.field,
                    f"unknown indicator kind {value.get('kind')!r}; expected one of " + ", ".join(sorted(_OUTPUTS)),
                )
            return located
    return None


def _convert(raw: Any) -> StrategySpec:
    try:
        return msgspec.convert(raw, StrategySpec)
    except msgspec.ValidationError as err:
        located = None
        if "[...]" in str(err):
            located = _locate_indicator_error(raw)
        raise (located or from_msgspec_error(err)) from None


def decode_strategy(raw: bytes | str | Mapping[str, Any]) -> StrategySpec:
    """Parse JSON (bytes/str) or a builtins dict and validate it fully."""
    if isinstance(raw, (bytes, bytearray, memoryview, str)):
        try:
            obj: Any = msgspec.json.decode(raw)
        except msgspec.DecodeError as err:
            raise EngineValidationError("spec", f"malformed JSON: {err}") from None
    else:
        obj = raw
    if not isinstance(obj, Mapping):
        raise EngineValidationError("spec", "expected a JSON object")
    spec = _convert(dict(obj))
    _semantic_checks(spec)
    return spec


def strategy_to_builtins(spec: StrategySpec) -> dict[str, Any]:
    """JSON-shaped dict of a spec (round-trips through ``decode_strategy``)."""
    out = msgspec.to_builtins(spec)
    assert isinstance(out, dict)
    return out


def validate_strategy(spec: StrategySpec) -> None:
    """Re-check range constraints and semantic rules (specs built in Python)."""
    if not isinstance(spec, StrategySpec):
        raise EngineValidationError("spec", "expected a StrategySpec")
    _convert(msgspec.to_builtins(spec))
    _semantic_checks(spec)


def _check_operand(spec: StrategySpec, field: str, ref: str | float, allow_number: bool) -> None:
    if not isinstance(ref, str):
        if not allow_number:
            raise EngineValidationError(field, "must name a series, not a number")
        if not math.isfinite(ref):
            raise EngineValidationError(field, "constant must be a finite number")
        return
    if ref in PRICE_FIELDS:
        return
    name, _, sub = ref.partition(".")
    ind = spec.indicators.get(name)
    if ind is None:
        raise EngineValidationError(field, f"unknown series {ref!r} (not a price field or indicator name)")
    outputs = indicator_outputs(ind)
    if sub and sub not in outputs:
        raise EngineValidationError(
            field,
            f"indicator {name!r} ({indicator_kind(ind)}) has no output {sub!r}; choose one of {', '.join(outputs)}",
        )


def _semantic_checks(spec: StrategySpec) -> None:
    for name, ind in spec.indicators.items():
        if not _NAME.match(name):
            raise EngineValidationError(
                f"indicators.{name}",
                "indicator names must match [A-Za-z_][A-Za-z0-9_]* (max 64 chars)",
            )
        if name in PRICE_FIELDS:
            raise EngineValidationError(f"indicators.{name}", "name collides with a price field")
        if isinstance(ind, MACD) and ind.fast >= ind.slow:
            raise EngineValidationError(f"indicators.{name}.fast", "must be smaller than slow")
    if not spec.entry.conditions:
        raise EngineValidationError("entry.conditions", "at least one condition")
    for rule_name, rule in (("entry", spec.entry), ("exit", spec.exit)):
        for i, cond in enumerate(rule.conditions):
            base = f"{rule_name}.conditions[{i}]"
            _check_operand(spec, f"{base}.left", cond.left, allow_number=False)
            _check_operand(spec, f"{base}.right", cond.right, allow_number=True)


def warmup_bars(spec: StrategySpec) -> int:
    """First bar index on which a signal may be evaluated.

    It is one more than the largest indicator lookback, so that every
    indicator output is defined on the signal bar *and* the bar before it
    (needed by crossings). Signals before this bar are always false.
    """
    lookback = max((indicator_lookback(ind) for ind in spec.indicators.values()), default=0)
    return lookback + 1


def min_bars(spec: StrategySpec) -> int:
    """Fewest bars a data set needs: warm-up, one signal bar and one fill bar."""
    return warmup_bars(spec) + 2
