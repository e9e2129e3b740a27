"""Grid constraints (``where``): a tiny parser for comparisons of parameter paths and numbers.

A sweep such as ``fast.period`` 5..50 against ``slow.period`` 20..200 is only
meaningful where the fast average is shorter than the slow one, and a MACD
whose ``fast`` is not below its ``slow`` is even rejected by the engine, so the
grid's Cartesian product is filtered before any spec is built. Expressions are
parsed here, never evaluated by Python's ``eval``: the grammar has numbers,
dotted parameter paths, ``+ - * /``, parentheses, the comparisons ``< <= > >=
== !=`` (chainable, as in Python) and ``and`` / ``or`` / ``not``::

    fast.period < slow.period
    slow.period >= 2 * fast.period and money.stop_loss_pct <= 5
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)"
    r"|(?P<op><=|>=|==|!=|&&|\|\||[<>()+\-*/!]))"
)
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}
_KEYWORDS = {"and": "and", "or": "or", "not": "not", "&&": "and", "||": "or", "!": "not"}


class ConstraintError(ValueError):
    """An expression that does not parse, or names a parameter that does not exist."""


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Path:
    path: str


@dataclass(frozen=True)
class Arithmetic:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Comparison:
    """``a < b <= c``: every adjacent pair must hold."""

    operands: tuple[Expr, ...]
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Logical:
    op: str  # "and" | "or"
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    part: Expr


Expr = Union[Number, Path, Arithmetic, Comparison, Logical, Not]  # noqa: UP007 - a runtime alias


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ConstraintError(f"unexpected character {text[position:].lstrip()[:1]!r} at position {position}")
        tokens.append(match.group(match.lastgroup or "op"))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ConstraintError("the expression ends too early")
        self.at += 1
        return token

    def parse(self) -> Expr:
        if not self.tokens:
            raise ConstraintError("empty expression")
        expr = self.disjunction()
        if self.peek() is not None:
            raise ConstraintError(f"unexpected {self.peek()!r}")
        return expr

    def disjunction(self) -> Expr:
        parts = [self.conjunction()]
        while _KEYWORDS.get(self.peek() or "") == "or":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Logical("or", tuple(parts))

    def conjunction(self) -> Expr:
        parts = [self.negation()]
        while _KEYWORDS.get(self.peek() or "") == "and":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else Logical("and", tuple(parts))

    def negation(self) -> Expr:
        if _KEYWORDS.get(self.peek() or "") == "not":
            self.take()
            return Not(self.negation())
        return self.comparison()

    def comparison(self) -> Expr:
        operands = [self.sum()]
        ops: list[str] = []
        while self.peek() in COMPARISONS:
            ops.append(self.take())
            operands.append(self.sum())
        if not ops:
            return operands[0]  # a value in parentheses, or a condition: _check says which is allowed
        return Comparison(tuple(operands), tuple(ops))

    def sum(self) -> Expr:
        expr = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()
            expr = Arithmetic(op, expr, self.product())
        return expr

    def product(self) -> Expr:
        expr = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()
            expr = Arithmetic(op, expr, self.unary())
        return expr

    def unary(self) -> Expr:
        if self.peek() == "-":
            self.take()
            return Arithmetic("-", Number(0.0), self.unary())
        return self.atom()

    def atom(self) -> Expr:
        token = self.take()
        if token == "(":
            inner = self.disjunction()
            if self.take() != ")":
                raise ConstraintError("expected ')'")
            return inner
        if token[0].isdigit() or token[0] == ".":
            return Number(float(token))
        if token in _KEYWORDS or token in COMPARISONS or token in _ARITHMETIC or token == ")":
            raise ConstraintError(f"unexpected {token!r}")
        return Path(token)


_CONDITIONS = (Comparison, Logical, Not)


def _check(expr: Expr, condition: bool) -> None:
    """Conditions where a condition is due (the top, and/or/not), numbers inside comparisons and arithmetic."""
    if condition and not isinstance(expr, _CONDITIONS):
        raise ConstraintError("expected a comparison such as 'fast.period < slow.period'")
    if not condition and isinstance(expr, _CONDITIONS):
        raise ConstraintError("a comparison cannot be used as a number")
    if isinstance(expr, Comparison):
        for part in expr.operands:
            _check(part, condition=False)
    elif isinstance(expr, Logical):
        for part in expr.parts:
            _check(part, condition=True)
    elif isinstance(expr, Not):
        _check(expr.part, condition=True)
    elif isinstance(expr, Arithmetic):
        _check(expr.left, condition=False)
        _check(expr.right, condition=False)


def parse(text: str) -> Expr:
    """The syntax tree of one constraint; ``ConstraintError`` says what is wrong."""
    expr = _Parser(text).parse()
    _check(expr, condition=True)
    return expr


def paths(expr: Expr) -> set[str]:
    """Every parameter path an expression reads."""
    if isinstance(expr, Path):
        return {expr.path}
    if isinstance(expr, Number):
        return set()
    if isinstance(expr, Arithmetic):
        return paths(expr.left) | paths(expr.right)
    if isinstance(expr, Comparison):
        return set().union(*(paths(part) for part in expr.operands))
    if isinstance(expr, Logical):
        return set().union(*(paths(part) for part in expr.parts))
    return paths(expr.part)


def _value(expr: Expr, env: Callable[[str], float]) -> float:
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, Path):
        return env(expr.path)
    if isinstance(expr, Arithmetic):
        left, right = _value(expr.left, env), _value(expr.right, env)
        if expr.op == "/" and right == 0:
            return math.nan  # compares false with everything: the combination is dropped
        return _ARITHMETIC[expr.op](left, right)
    raise ConstraintError("a comparison cannot be used as a number")


def holds(expr: Expr, env: Callable[[str], float]) -> bool:
    """Whether the constraint holds for one combination (``env`` maps a path to its value)."""
    if isinstance(expr, Comparison):
        values = [_value(part, env) for part in expr.operands]
        return all(COMPARISONS[op](a, b) for op, a, b in zip(expr.ops, values, values[1:], strict=False))
    if isinstance(expr, Logical):
        if expr.op == "and":
            return all(holds(part, env) for part in expr.parts)
        return any(holds(part, env) for part in expr.parts)
    if isinstance(expr, Not):
        return not holds(expr.part, env)
    return _value(expr, env) != 0
