"""Bundles (parameter sweeps) in and out."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated
from typing import Any
from typing import Literal

import msgspec

from backtest_api.backtests.schemas import Attempts
from backtest_api.backtests.schemas import Priority
from backtest_api.backtests.schemas import Strategy
from backtest_api.backtests.schemas import Timeout
from backtest_shared.engine import RANKABLE_METRICS

RANK_BY_DESCRIPTION = "Metric to rank results by (best first: highest, or lowest for drawdowns and the like)"
#: The metrics results can be ranked by: documented as an enum, refused otherwise.
RankBy = enum.StrEnum("RankBy", {name: name for name in sorted(RANKABLE_METRICS)})  # type: ignore[misc]
#: ``pending``: nothing has run yet; ``running``: some backtests have run or run now; ``finished``: all are
#: final; ``cancelled``: all are final and some were cancelled (the bundle, or some of its backtests).
BundleStatus = Literal["pending", "running", "finished", "cancelled"]
Grid = Annotated[
    dict[str, list[Any]],
    msgspec.Meta(
        description="Dotted paths into the base strategy -> values; the cartesian product becomes the jobs",
        examples=[{"indicators.fast.period": [5, 10, 20], "indicators.slow.period": [50, 100]}],
    ),
]
Where = Annotated[
    str | list[str],
    msgspec.Meta(
        description=(
            "Constraints on the grid's combinations (all must hold): comparisons of parameter paths and numbers, "
            "with + - * /, and/or/not. A path is a grid key or any numeric field of the base strategy; "
            "`fast.period` is short for `indicators.fast.period`"
        ),
        examples=["fast.period < slow.period", ["slow.period >= 2 * fast.period", "money.stop_loss_pct <= 5"]],
    ),
]


class BundleCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A sweep on one dataset: ``base`` plus a ``grid``, or an explicit list of ``strategies``."""

    dataset_id: uuid.UUID
    base: Strategy | None = None
    grid: Grid | None = None
    where: Where | None = None
    strategies: list[Strategy] | None = None
    name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    rank_by: Annotated[RankBy, msgspec.Meta(description=RANK_BY_DESCRIPTION)] = RankBy("sharpe")
    priority: Priority = 0
    max_attempts: Attempts = 3
    timeout_seconds: Timeout = 3600
    reuse: bool = True


class BundleAccepted(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    total_jobs: int
    #: Jobs answered at once from identical finished results.
    reused_jobs: int
    status: BundleStatus


class RankedBacktest(msgspec.Struct, kw_only=True):
    rank: int
    backtest_id: uuid.UUID
    #: The grid values of this backtest (a list bundle: the strategy's name).
    parameters: dict[str, Any]
    metrics: dict[str, Any]


class Bundle(msgspec.Struct, kw_only=True):
    """A bundle's counts per status, progress, and its best results so far."""

    id: uuid.UUID
    name: str | None
    status: BundleStatus
    finished: bool
    total_jobs: int
    counts: dict[str, int]
    progress: float
    rank_by: RankBy
    created_at: dt.datetime
    results: list[RankedBacktest]
    #: Succeeded backtests there are to rank (``results`` holds the ``top`` of them).
    total_results: int
    best: RankedBacktest | None


class BundleSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str | None
    total_jobs: int
    rank_by: RankBy
    created_at: dt.datetime


class BundlePage(msgspec.Struct, kw_only=True):
    items: list[BundleSummary]
