"""The grid-constraint parser and expander, against a brute-force filter of the Cartesian product."""

from __future__ import annotations

import itertools
import operator

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from backtest_api.bundles import constraints
from backtest_api.bundles.grid import filtered_combinations
from backtest_api.bundles.grid import parse_where
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import decode_strategy

BASE = decode_strategy(STRATEGY_A_EXAMPLE)
KEYS = ("indicators.fast.period", "indicators.slow.period", "money.leverage")
SHORT = {
    "indicators.fast.period": "fast.period",
    "indicators.slow.period": "slow.period",
    "money.leverage": "money.leverage",
}
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}

operands = st.one_of(st.sampled_from(KEYS).map(lambda k: ("path", k)), st.integers(0, 60).map(lambda n: ("num", n)))
comparisons = st.tuples(operands, st.sampled_from(sorted(OPS)), operands)


def _text(comparison) -> str:
    (left_kind, left), op, (right_kind, right) = comparison
    render = lambda kind, value: SHORT[value] if kind == "path" else str(value)  # noqa: E731
    return f"{render(left_kind, left)} {op} {render(right_kind, right)}"


def _brute_force(grid, comparisons_list):
    keys = list(grid)
    kept = []
    for combo in itertools.product(*grid.values()):
        values = dict(zip(keys, combo, strict=True))

        def value(kind, v, values=values):
            return values[v] if kind == "path" else v

        if all(OPS[op](value(*left), value(*right)) for left, op, right in comparisons_list):
            kept.append(combo)
    return kept


@settings(max_examples=150, deadline=None)
@given(
    fast=st.lists(st.integers(1, 60), min_size=1, max_size=5, unique=True),
    slow=st.lists(st.integers(1, 60), min_size=1, max_size=5, unique=True),
    leverage=st.lists(st.integers(1, 5), min_size=1, max_size=3, unique=True),
    where=st.lists(comparisons, min_size=1, max_size=3),
)
def test_expanded_combinations_equal_the_brute_force_filter_of_the_product(fast, slow, leverage, where):
    grid = dict(zip(KEYS, (fast, slow, leverage), strict=True))

    _keys, combos = filtered_combinations(BASE, grid, parse_where([_text(c) for c in where]))

    assert combos == _brute_force(grid, where)


@given(st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(1, 50))
def test_arithmetic_follows_the_usual_precedence(a, b, c):
    expr = constraints.parse(f"x + y * z == {a + b * c} and (x - y) / z == {(a - b) / c}")

    assert constraints.holds(expr, {"x": a, "y": b, "z": c}.__getitem__)


def test_comparisons_chain_as_in_python():
    expr = constraints.parse("1 < x <= 3")

    def holds_for(x: int) -> bool:
        return constraints.holds(expr, lambda _path: x)

    assert [holds_for(x) for x in (1, 2, 3, 4)] == [False, True, True, False]


@pytest.mark.parametrize(
    "text", ["", "fast.period", "fast.period <", "< 3", "a < b c", "a ** 2 < 3", "f(x) < 1", "a; b", "(a < b) + 1 < 2"]
)
def test_what_is_not_a_comparison_is_refused(text):
    with pytest.raises(constraints.ConstraintError):
        constraints.parse(text)


def test_a_path_that_is_neither_a_grid_key_nor_a_strategy_field_is_refused():
    with pytest.raises(EngineValidationError) as refused:
        filtered_combinations(BASE, {"indicators.fast.period": [5]}, parse_where("slow.perod > 1"))

    assert refused.value.field == "where"
