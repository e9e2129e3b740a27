"""Sweep grids: values from ranges, short parameter paths, and the CLI's ``key=start:stop:step``.

The API's grid keys are dotted paths into the strategy JSON
(``indicators.fast.period``). Users think in ``fast.period``, so a key that
is not a path of the strategy but is one below ``indicators`` is expanded;
``where`` constraints accept the same short paths (the server resolves them).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

GridLike = Mapping[str, Iterable[Any]]


def _has_path(tree: Any, path: str) -> bool:
    node = tree
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


def full_path(strategy: Mapping[str, Any], key: str) -> str:
    """``fast.period`` -> ``indicators.fast.period`` when only the latter exists in the strategy."""
    if not _has_path(strategy, key) and _has_path(strategy, f"indicators.{key}"):
        return f"indicators.{key}"
    return key


def short_path(key: str) -> str:
    """The column name users see for a grid key (``indicators.`` dropped)."""
    return key.removeprefix("indicators.")


def normalise(strategy: Mapping[str, Any], grid: GridLike) -> dict[str, list[Any]]:
    """JSON-ready grid: ranges and other iterables become lists, short keys become full paths."""
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        items = [values] if isinstance(values, (str, bytes)) else list(values)
        out[full_path(strategy, key)] = [v.item() if hasattr(v, "item") else v for v in items]
    return out


def _number(text: str) -> int | float | str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    integral = value == value.to_integral_value() and "." not in text and "e" not in text.lower()
    return int(value) if integral else float(value)


def parse_values(text: str) -> list[Any]:
    """``5:50:5`` (start:stop:step, stop included), ``5:50`` (step 1) or ``a,b,c``."""
    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"expected start:stop[:step], got {text!r}")
        try:
            start, stop = Decimal(parts[0]), Decimal(parts[1])
            step = Decimal(parts[2]) if len(parts) == 3 else Decimal(1)
        except InvalidOperation:
            raise ValueError(f"start, stop and step must be numbers in {text!r}") from None
        if step <= 0:
            raise ValueError(f"step must be positive in {text!r}")
        integral = all(p.strip().lstrip("-").isdigit() for p in parts)
        values: list[Any] = []
        current = start
        while current <= stop:
            values.append(int(current) if integral else float(current))
            current += step
        if not values:
            raise ValueError(f"{text!r} is empty (start is after stop)")
        return values
    return [_number(part.strip()) for part in text.split(",") if part.strip()]


def parse_grid_arg(text: str) -> tuple[str, list[Any]]:
    """``fast.period=5:50:5`` -> ``("fast.period", [5, 10, ..., 50])``."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ValueError(f"expected PATH=VALUES (e.g. fast.period=5:50:5 or slow.period=20,50,100), got {text!r}")
    return key.strip(), parse_values(values.strip())
