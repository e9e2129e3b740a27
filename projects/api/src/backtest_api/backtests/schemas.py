"""Backtests in and out: one struct per use case."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated
from typing import Any

import msgspec

from backtest_api.core.openapi import DocumentedAs
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import StrategySpec
from backtest_shared.jobs.lifecycle import JobStatus
from backtest_shared.jobs.repository import MAX_ATTEMPTS
from backtest_shared.jobs.repository import MAX_PRIORITY
from backtest_shared.jobs.repository import MAX_TIMEOUT_SECONDS

Priority = Annotated[int, msgspec.Meta(ge=-MAX_PRIORITY, le=MAX_PRIORITY, description="Higher runs first")]
Attempts = Annotated[int, msgspec.Meta(ge=1, le=MAX_ATTEMPTS, description="Runs before the job is failed")]
Timeout = Annotated[int, msgspec.Meta(ge=1, le=MAX_TIMEOUT_SECONDS, description="Seconds one run may take")]
#: Decoded as a plain object and validated by the engine (which names the offending field),
#: documented as the engine's spec: the server refuses exactly what that schema refuses, and more
#: (rules that name undefined indicators, for one).
Strategy = Annotated[
    dict[str, Any],
    msgspec.Meta(
        description="A strategy spec (see docs/engine.md): indicators, entry/exit rules, money, costs",
        examples=[STRATEGY_A_EXAMPLE],
    ),
    DocumentedAs(StrategySpec),
]


class BacktestCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Run one strategy on one of your datasets."""

    dataset_id: uuid.UUID
    strategy: Strategy
    priority: Priority = 0
    max_attempts: Attempts = 3
    timeout_seconds: Timeout = 3600
    #: Answer at once from an identical finished backtest (same strategy, data and engine version).
    reuse: bool = True


class BacktestAccepted(msgspec.Struct, kw_only=True):
    """A submitted backtest: ``succeeded`` at once when an identical result was reused."""

    id: uuid.UUID
    status: JobStatus
    reused_from: uuid.UUID | None = None


class BacktestResult(msgspec.Struct, kw_only=True):
    metrics: dict[str, Any]
    equity_curve: list[Any]
    trades: list[Any]


class Backtest(msgspec.Struct, kw_only=True):
    """A backtest's state, and its result once it succeeded."""

    id: uuid.UUID
    status: JobStatus
    progress: float
    dataset_id: uuid.UUID
    bundle_id: uuid.UUID | None
    priority: int
    attempts: int
    max_attempts: int
    cancel_requested: bool
    error: str | None
    reused_from: uuid.UUID | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    config: dict[str, Any]
    result: BacktestResult | None = None


class BacktestSummary(msgspec.Struct, kw_only=True):
    """A backtest in a listing (no config, no result)."""

    id: uuid.UUID
    status: JobStatus
    progress: float
    dataset_id: uuid.UUID
    bundle_id: uuid.UUID | None
    priority: int
    error: str | None
    reused_from: uuid.UUID | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class BacktestPage(msgspec.Struct, kw_only=True):
    """One page of a listing; pass ``next_cursor`` as ``cursor`` for the next (null: last page)."""

    items: list[BacktestSummary]
    next_cursor: str | None


class ProgressEvent(msgspec.Struct, kw_only=True):
    """One server-sent event of a backtest's or bundle's progress."""

    id: uuid.UUID
    status: str
    progress: float
