"""'Did you mean ...?' for misspelt strategy fields.

Strategies are hand-written JSON; ``stop_los_pct`` answered only "unknown
field", and the user had to find the right name in the documentation. The
names valid at the misspelt field's place are known from the engine's spec
structs, so the closest one is suggested.
"""

from __future__ import annotations

import difflib
import re
import typing

from backtest_shared.engine.spec import Condition
from backtest_shared.engine.spec import Costs
from backtest_shared.engine.spec import Indicator
from backtest_shared.engine.spec import MoneyManagement
from backtest_shared.engine.spec import Rule
from backtest_shared.engine.spec import StrategySpec

_INDICATOR_FIELDS = sorted({name for kind in typing.get_args(Indicator) for name in kind.__struct_fields__} | {"kind"})
_BY_PARENT: dict[str, tuple[str, ...]] = {
    "money": MoneyManagement.__struct_fields__,
    "costs": Costs.__struct_fields__,
    "entry": Rule.__struct_fields__,
    "exit": Rule.__struct_fields__,
    "conditions": Condition.__struct_fields__,
}
_INDEX = re.compile(r"\[\d+\]$")


def _choices(parents: list[str]) -> tuple[str, ...]:
    """The field names valid below ``parents`` (the path inside a strategy, without the field itself)."""
    if not parents:
        return StrategySpec.__struct_fields__
    if len(parents) == 2 and parents[0] == "indicators":
        return tuple(_INDICATOR_FIELDS)
    return _BY_PARENT.get(_INDEX.sub("", parents[-1]), ())


def strategy_path(field: str) -> list[str] | None:
    """The path inside the strategy of a request field (``strategy.``, ``base.``, ``strategies[i].``)."""
    head, _, rest = field.partition(".")
    if head in ("strategy", "base") or re.fullmatch(r"strategies\[\d+\]", head):
        return rest.split(".") if rest else []
    return None


def explain(field: str, reason: str) -> str:
    """``reason``, plus the closest valid name when ``field`` is an unknown strategy field."""
    if reason != "unknown field":
        return reason
    path = strategy_path(field)
    if not path:
        return reason
    *parents, name = path
    close = difflib.get_close_matches(name, _choices(parents), n=1, cutoff=0.6)
    return f"{reason}; did you mean {close[0]!r}?" if close else reason
