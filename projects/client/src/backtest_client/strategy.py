"""Typed strategy builders: write a strategy in Python, send it as the API's JSON.

The JSON (see the engine documentation) stays the wire format and the server
validates it; these classes only make the common shapes easy to write and
hard to misspell::

    sma_cross = Strategy(
        name="sma_cross",
        indicators={"fast": SMA(10), "slow": SMA(50)},
        entry=crosses_above("fast", "slow"),
        exit=crosses_below("fast", "slow"),
        money=Money(stop_loss_pct=2.0),
        costs=Costs(fee_bps=10),
    )

``Strategy.load("strategy.json")`` and ``Strategy.from_dict`` read JSON
strategies; ``to_dict()`` gives the JSON back.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import ClassVar
from typing import Literal

Source = Literal["open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4"]
Direction = Literal["long", "short", "both"]
Operand = str | float


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class Indicator:
    """Base of the indicator builders; ``kind`` is the engine's name for it."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **_drop_none(dataclasses.asdict(self))}


@dataclass(frozen=True)
class SMA(Indicator):
    kind: ClassVar[str] = "sma"
    period: int
    source: Source = "close"


@dataclass(frozen=True)
class EMA(Indicator):
    kind: ClassVar[str] = "ema"
    period: int
    source: Source = "close"


@dataclass(frozen=True)
class WMA(Indicator):
    kind: ClassVar[str] = "wma"
    period: int
    source: Source = "close"


@dataclass(frozen=True)
class RSI(Indicator):
    kind: ClassVar[str] = "rsi"
    period: int = 14
    source: Source = "close"


@dataclass(frozen=True)
class MACD(Indicator):
    """Outputs ``line``, ``signal``, ``hist`` (refer to them as ``"name.signal"``)."""

    kind: ClassVar[str] = "macd"
    fast: int = 12
    slow: int = 26
    signal: int = 9
    source: Source = "close"


@dataclass(frozen=True)
class Bollinger(Indicator):
    """Outputs ``middle``, ``upper``, ``lower``."""

    kind: ClassVar[str] = "bollinger"
    period: int = 20
    stddev: float = 2.0
    source: Source = "close"


@dataclass(frozen=True)
class ATR(Indicator):
    kind: ClassVar[str] = "atr"
    period: int = 14


@dataclass(frozen=True)
class Stochastic(Indicator):
    """Outputs ``k``, ``d``."""

    kind: ClassVar[str] = "stochastic"
    k_period: int = 14
    d_period: int = 3


@dataclass(frozen=True)
class SuperTrend(Indicator):
    """Outputs ``value`` and ``direction`` (+1 up, -1 down)."""

    kind: ClassVar[str] = "supertrend"
    period: int = 10
    multiplier: float = 3.0


@dataclass(frozen=True)
class Donchian(Indicator):
    """Outputs ``middle``, ``upper``, ``lower``."""

    kind: ClassVar[str] = "donchian"
    period: int = 20


@dataclass(frozen=True)
class ROC(Indicator):
    kind: ClassVar[str] = "roc"
    period: int = 10
    source: Source = "close"


@dataclass(frozen=True)
class Condition:
    """``left <kind> right`` on each bar's close; operands name a price field, an indicator
    (``"fast"``, ``"macd.signal"``) or, on the right, a number."""

    kind: Literal["crosses_above", "crosses_below", "greater_than", "less_than"]
    left: str
    right: Operand

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "left": self.left, "right": self.right}


@dataclass(frozen=True)
class Rule:
    """Conditions combined with ``all`` (AND) or ``any`` (OR)."""

    conditions: tuple[Condition, ...]
    combine: Literal["all", "any"] = "all"

    def to_dict(self) -> dict[str, Any]:
        return {"combine": self.combine, "conditions": [c.to_dict() for c in self.conditions]}


def crosses_above(left: str, right: Operand) -> Condition:
    return Condition("crosses_above", left, right)


def crosses_below(left: str, right: Operand) -> Condition:
    return Condition("crosses_below", left, right)


def greater_than(left: str, right: Operand) -> Condition:
    return Condition("greater_than", left, right)


def less_than(left: str, right: Operand) -> Condition:
    return Condition("less_than", left, right)


def all_of(*conditions: Condition) -> Rule:
    return Rule(tuple(conditions), "all")


def any_of(*conditions: Condition) -> Rule:
    return Rule(tuple(conditions), "any")


@dataclass(frozen=True)
class Money:
    """Position size (fraction of equity), leverage, and exits in percent (2.0 means 2 %)."""

    position_size: float = 1.0
    leverage: float = 1.0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    trailing_stop_pct: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(dataclasses.asdict(self))


@dataclass(frozen=True)
class Costs:
    """Fee per side and slippage per fill, in basis points."""

    fee_bps: float = 0.0
    slippage_bps: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _rule(value: Condition | Rule | None, combine: Literal["all", "any"]) -> dict[str, Any]:
    if value is None:
        return {"combine": combine, "conditions": []}
    if isinstance(value, Condition):
        return Rule((value,), combine).to_dict()
    return value.to_dict()


@dataclass(frozen=True)
class Strategy:
    """A complete strategy; ``raw`` holds a JSON strategy loaded as-is."""

    entry: Condition | Rule | None = None
    exit: Condition | Rule | None = None
    name: str = "strategy"
    indicators: Mapping[str, Indicator] = field(default_factory=dict)
    direction: Direction = "long"
    money: Money = field(default_factory=Money)
    costs: Costs = field(default_factory=Costs)
    initial_capital: float = 10_000.0
    raw: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The strategy as the API's JSON."""
        if self.raw is not None:
            return _copy(self.raw)
        return {
            "name": self.name,
            "indicators": {name: ind.to_dict() for name, ind in self.indicators.items()},
            "entry": _rule(self.entry, "all"),
            "exit": _rule(self.exit, "any"),
            "direction": self.direction,
            "money": self.money.to_dict(),
            "costs": self.costs.to_dict(),
            "initial_capital": self.initial_capital,
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Strategy:
        """Wrap a JSON strategy (validated by the server when submitted)."""
        return cls(name=str(spec.get("name", "strategy")), raw=dict(spec))

    @classmethod
    def load(cls, path: str | Path) -> Strategy:
        """Read a JSON strategy file."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


StrategyLike = Strategy | Mapping[str, Any]


def _copy(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A deep, JSON-only copy (later edits of the caller's dict cannot change what was sent)."""
    copied: dict[str, Any] = json.loads(json.dumps(dict(spec)))
    return copied


def strategy_dict(strategy: StrategyLike) -> dict[str, Any]:
    """The wire form of a ``Strategy`` or of an already-JSON-shaped mapping."""
    if isinstance(strategy, Strategy):
        return strategy.to_dict()
    return _copy(strategy)
