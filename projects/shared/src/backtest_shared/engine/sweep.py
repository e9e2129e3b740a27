"""Parameter sweeps over one data set, and grid expansion of specs.

Array conventions: all specs share the same ``OHLCV`` (see ``data``); the
indicator cache holds one float64 array of length ``n`` per distinct
(indicator kind, parameters) pair, so coinciding indicators are computed once
for the whole sweep. NaN policy: metrics are finite or None; None ranks last.

Specs are processed in blocks of ``BLOCK`` (progress is reported per block);
within a run only metrics are produced (no trade objects), which keeps the
per-spec cost a few simple passes over the arrays.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import msgspec

from backtest_shared.engine.backtest import check_length
from backtest_shared.engine.backtest import check_scale
from backtest_shared.engine.backtest import simulate_spec
from backtest_shared.engine.data import OHLCV
from backtest_shared.engine.data import validate_ohlcv
from backtest_shared.engine.errors import EngineValidationError
from backtest_shared.engine.metrics import LOWER_IS_BETTER
from backtest_shared.engine.metrics import METRIC_NAMES
from backtest_shared.engine.metrics import Metrics
from backtest_shared.engine.signals import SeriesCache
from backtest_shared.engine.spec import StrategySpec
from backtest_shared.engine.spec import decode_strategy
from backtest_shared.engine.spec import strategy_to_builtins
from backtest_shared.engine.spec import validate_strategy

__all__ = [
    "MAX_GRID_SIZE",
    "RANKABLE_METRICS",
    "SweepEntry",
    "expand_grid",
    "run_sweep",
]

RANKABLE_METRICS: frozenset[str] = frozenset(METRIC_NAMES)
MAX_GRID_SIZE = 10_000
BLOCK = 16


class SweepEntry(msgspec.Struct, frozen=True, kw_only=True):
    """``index`` into the input specs, its metrics and its 1-based rank."""

    index: int
    rank: int
    metrics: Metrics


def _sort_key(rank_by: str) -> Callable[[tuple[int, Metrics]], tuple[int, float, int]]:
    sign = 1.0 if rank_by in LOWER_IS_BETTER else -1.0

    def key(item: tuple[int, Metrics]) -> tuple[int, float, int]:
        value = getattr(item[1], rank_by)
        if value is None:
            return (1, 0.0, item[0])
        return (0, sign * float(value), item[0])

    return key


def run_sweep(
    data: OHLCV,
    specs: Sequence[StrategySpec],
    *,
    rank_by: str = "sharpe",
    progress: Callable[[float], None] | None = None,
) -> list[SweepEntry]:
    """Backtest every spec on ``data``; entries ranked best first.

    ``rank_by`` is any name in ``RANKABLE_METRICS``; higher is better except
    for annual_volatility, max_drawdown and max_drawdown_duration_bars. Ties
    keep input order. All specs are validated before any work starts.
    """
    if rank_by not in RANKABLE_METRICS:
        raise EngineValidationError(
            "rank_by",
            f"unknown metric {rank_by!r}; choose one of {sorted(RANKABLE_METRICS)}",
        )
    if len(specs) == 0:
        raise EngineValidationError("specs", "at least one spec is required")
    validate_ohlcv(data)
    for i, spec in enumerate(specs):
        try:
            validate_strategy(spec)
            check_length(data, spec)
            check_scale(data, spec)
        except EngineValidationError as err:
            raise EngineValidationError(f"specs[{i}].{err.field}", err.reason) from None
    cache = SeriesCache(data)
    results: list[tuple[int, Metrics]] = []
    total = len(specs)
    for start in range(0, total, BLOCK):
        for i in range(start, min(total, start + BLOCK)):
            results.append((i, simulate_spec(data, specs[i], cache).metrics))
        if progress is not None:
            progress(min(total, start + BLOCK) / total)
    results.sort(key=_sort_key(rank_by))
    return [SweepEntry(index=i, rank=r + 1, metrics=m) for r, (i, m) in enumerate(results)]


def _resolve(tree: Any, path: str) -> tuple[Any, str | int]:
    """Container and key of a dotted path (list indices as numbers)."""
    parts = path.split(".")
    node = tree
    for depth, part in enumerate(parts):
        key: str | int = part
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(path)
            key = int(part)
        elif not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        if depth == len(parts) - 1:
            return node, key
        node = node[key]
    raise KeyError(path)


def expand_grid(base: StrategySpec, grid: Mapping[str, Sequence[object]]) -> list[StrategySpec]:
    """Cartesian product of ``grid`` applied to ``base`` as validated specs.

    Keys are dotted paths into the spec's JSON shape, e.g.
    ``"indicators.fast.period"``, ``"money.stop_loss_pct"`` or
    ``"entry.conditions.0.right"``; the product follows the key order (the
    last key varies fastest). An empty grid returns ``[base]``.
    """
    validate_strategy(base)
    tree = msgspec.json.decode(msgspec.json.encode(strategy_to_builtins(base)))
    keys = list(grid)
    choices: list[list[object]] = []
    size = 1
    for key in keys:
        values = grid[key]
        try:
            _resolve(tree, key)
        except KeyError:
            raise EngineValidationError(f"grid.{key}", "unknown parameter path (no such field in the spec)") from None
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise EngineValidationError(f"grid.{key}", "values must be a list")
        if len(values) == 0:
            raise EngineValidationError(f"grid.{key}", "values must not be empty")
        choices.append(list(values))
        size *= len(values)
        if size > MAX_GRID_SIZE:
            raise EngineValidationError("grid", f"grid expands to more than {MAX_GRID_SIZE} specs")
    specs: list[StrategySpec] = []
    for combo in itertools.product(*choices):
        candidate = copy.deepcopy(tree)
        for key, value in zip(keys, combo, strict=True):
            node, leaf = _resolve(candidate, key)
            node[leaf] = value
        try:
            specs.append(decode_strategy(candidate))
        except EngineValidationError as err:
            settings = ", ".join(f"{k}={v!r}" for k, v in zip(keys, combo, strict=True))
            raise EngineValidationError(err.field, f"{err.reason} (grid values {settings})") from None
    return specs
