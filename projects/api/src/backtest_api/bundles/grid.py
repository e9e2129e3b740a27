"""Expanding a grid whose combinations are filtered by ``where`` constraints.

The engine's ``expand_grid`` builds and validates every combination of the
Cartesian product. With constraints, combinations are filtered on their values
first, and only the survivors become specs: a combination the constraint rules
out is never validated (a MACD with ``fast >= slow`` would be refused) and
does not count towards the bundle size. Constraint paths are the grid's keys or
any other numeric field of the base strategy; ``fast.period`` is short for
``indicators.fast.period``.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import msgspec

from backtest_api.bundles import constraints
from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import StrategySpec
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import strategy_to_builtins

#: Combinations examined before filtering: bounds the work a request can ask for.
MAX_CANDIDATES = 1_000_000


def _lookup(tree: Any, path: str) -> tuple[bool, Any]:
    node = tree
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False, None
    return True, node


def _setter(tree: Any, path: str) -> tuple[Any, str | int]:
    parts = path.split(".")
    found, node = _lookup(tree, ".".join(parts[:-1])) if len(parts) > 1 else (True, tree)
    leaf = parts[-1]
    if found and isinstance(node, list) and leaf.isdigit() and int(leaf) < len(node):
        return node, int(leaf)
    if found and isinstance(node, dict) and leaf in node:
        return node, leaf
    raise EngineValidationError(f"grid.{path}", "unknown parameter path (no such field in the spec)")


def parse_where(where: str | Sequence[str] | None) -> list[tuple[str, constraints.Expr]]:
    """(field, expression) per constraint; a bad one is a 400 naming ``where`` or ``where[i]``."""
    if where is None:
        return []
    texts = [(("where", where))] if isinstance(where, str) else [(f"where[{i}]", t) for i, t in enumerate(where)]
    parsed = []
    for field, text in texts:
        try:
            parsed.append((field, constraints.parse(text)))
        except constraints.ConstraintError as exc:
            raise EngineValidationError(field, f"{exc} in {text!r}") from None
    return parsed


def _from_combo(index: int) -> Callable[[tuple[Any, ...]], Any]:
    def value(combo: tuple[Any, ...]) -> Any:
        return combo[index]

    return value


def _constant(constant: Any) -> Callable[[tuple[Any, ...]], Any]:
    def value(_combo: tuple[Any, ...]) -> Any:
        return constant

    return value


def _binder(tree: Any, keys: list[str], where: list[tuple[str, constraints.Expr]]) -> Callable[[tuple[Any, ...]], bool]:
    """A predicate over a combination of grid values; unknown or non-numeric paths are refused up front."""
    sources: dict[str, Callable[[tuple[Any, ...]], Any]] = {}
    for field, expr in where:
        for path in constraints.paths(expr):
            for candidate in (path, f"indicators.{path}"):
                if candidate in keys:
                    sources[path] = _from_combo(keys.index(candidate))
                    break
                found, value = _lookup(tree, candidate)
                if found:
                    sources[path] = _constant(value)
                    break
            else:
                known = ", ".join(keys) or "none"
                raise EngineValidationError(field, f"unknown parameter {path!r} (grid keys: {known})")

    def number(path: str, combo: tuple[Any, ...], field: str) -> float:
        value = sources[path](combo)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EngineValidationError(field, f"{path!r} is {value!r}, not a number")
        return float(value)

    def accept(combo: tuple[Any, ...]) -> bool:
        for field, expr in where:

            def env(path: str, field: str = field) -> float:
                return number(path, combo, field)

            if not constraints.holds(expr, env):
                return False
        return True

    return accept


def _combinations(tree: Any, grid: Mapping[str, Sequence[object]]) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    keys = list(grid)
    choices: list[list[object]] = []
    size = 1
    for key in keys:
        values = grid[key]
        _setter(tree, key)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise EngineValidationError(f"grid.{key}", "values must be a list")
        if len(values) == 0:
            raise EngineValidationError(f"grid.{key}", "values must not be empty")
        choices.append(list(values))
        size *= len(values)
    if size > MAX_CANDIDATES:
        raise EngineValidationError(
            "grid", f"the grid has {size} combinations before filtering; at most {MAX_CANDIDATES}"
        )
    return keys, itertools.product(*choices)


def filtered_combinations(
    base: StrategySpec, grid: Mapping[str, Sequence[object]], where: list[tuple[str, constraints.Expr]]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The grid's keys and the combinations (last key fastest) every constraint accepts."""
    tree = msgspec.json.decode(msgspec.json.encode(strategy_to_builtins(base)))
    keys, combos = _combinations(tree, grid)
    accept = _binder(tree, keys, where)
    return keys, [combo for combo in combos if accept(combo)]


def build_specs(base: StrategySpec, keys: list[str], combos: list[tuple[Any, ...]]) -> list[StrategySpec]:
    """One validated spec per combination (errors name the grid values that caused them)."""
    tree = msgspec.json.decode(msgspec.json.encode(strategy_to_builtins(base)))
    specs: list[StrategySpec] = []
    for combo in combos:
        candidate = copy.deepcopy(tree)
        for key, value in zip(keys, combo, strict=True):
            node, leaf = _setter(candidate, key)
            node[leaf] = value
        try:
            specs.append(decode_strategy(candidate))
        except EngineValidationError as err:
            settings = ", ".join(f"{k}={v!r}" for k, v in zip(keys, combo, strict=True))
            raise EngineValidationError(err.field, f"{err.reason} (grid values {settings})") from None
    return specs
