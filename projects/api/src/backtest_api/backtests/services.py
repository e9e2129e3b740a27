"""Submitting, reading, waiting for and cancelling backtests."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg

from backtest_api import suggestions
from backtest_api.backtests import exports
from backtest_api.backtests import repository
from backtest_api.backtests.benchmark import buy_and_hold_return
from backtest_api.backtests.repository import JobFilter
from backtest_api.backtests.repository import list_jobs
from backtest_api.backtests.results import job_result
from backtest_api.backtests.schemas import Backtest
from backtest_api.backtests.schemas import BacktestAccepted
from backtest_api.backtests.schemas import BacktestCreate
from backtest_api.backtests.schemas import BacktestPage
from backtest_api.backtests.schemas import BacktestResult
from backtest_api.backtests.schemas import ProgressEvent
from backtest_api.core.errors import InvalidRequestError
from backtest_api.core.errors import NotFoundError
from backtest_api.core.principal import Principal
from backtest_api.core.state import Services
from backtest_api.datasets import services as datasets
from backtest_api.datasets.services import JobDataset
from backtest_shared.engine import StrategySpec
from backtest_shared.engine.spec import min_bars
from backtest_shared.jobs.config import JobConfigError
from backtest_shared.jobs.config import config_content_hash
from backtest_shared.jobs.config import decode_backtest_config
from backtest_shared.jobs.lifecycle import FINAL_STATUSES
from backtest_shared.jobs.lifecycle import JobStatus
from backtest_shared.jobs.models import JobState
from backtest_shared.jobs.models import QueuedJob
from backtest_shared.jobs.models import SingleSubmit
from backtest_shared.jobs.models import StoredResult
from backtest_shared.jobs.repository import PendingLimitExceededError
from backtest_shared.jobs.repository import check_job_options


def max_pending(services: Services, user: Principal) -> int:
    return user.max_pending_jobs if user.max_pending_jobs is not None else services.settings.max_pending_jobs


def check_enough_bars(dataset: JobDataset, specs: Sequence[StrategySpec], what: str = "this strategy") -> None:
    """Refuse at submit what the engine would refuse when it runs: too few bars for the warm-up.

    The engine needs every indicator's warm-up, then a signal bar and a fill bar.
    """
    need = max((min_bars(spec) for spec in specs), default=0)
    if dataset.n_bars < need:
        raise InvalidRequestError(
            "dataset_id",
            f"the dataset has {dataset.n_bars} bars; {what} needs at least {need} "
            f"({need - 2} warm-up bars for its indicators, a signal bar and a fill bar)",
        )


async def queued_job(services: Services, user: Principal, dataset_id: uuid.UUID, strategy: Any) -> QueuedJob:
    """Validate a config (400 naming the field), resolve its dataset (404) and check the dataset is long enough."""
    try:
        config = decode_backtest_config({"dataset_id": str(dataset_id), "strategy": strategy})
    except JobConfigError as exc:
        raise JobConfigError(exc.field, suggestions.explain(exc.field, exc.reason)) from None
    dataset = await datasets.dataset_for_job(services, user, dataset_id)
    check_enough_bars(dataset, [config.strategy])
    return QueuedJob(config=config, config_hash=config_content_hash(config.strategy, dataset.content_hash))


async def submit(services: Services, user: Principal, request: BacktestCreate) -> BacktestAccepted:
    job = await queued_job(services, user, request.dataset_id, request.strategy)
    check_job_options(request.priority, request.max_attempts, request.timeout_seconds)
    limit = max_pending(services, user)
    try:
        outcome = await services.submitter.submit(
            SingleSubmit(
                id=uuid.uuid4(),
                owner_id=user.id,
                job=job,
                priority=request.priority,
                max_attempts=request.max_attempts,
                timeout_seconds=request.timeout_seconds,
                max_pending=limit,
                reuse=request.reuse,
            )
        )
    except psycopg.errors.ForeignKeyViolation:  # the dataset was deleted meanwhile
        datasets.forget(services, request.dataset_id)
        raise NotFoundError("dataset", request.dataset_id, field="dataset_id") from None
    if outcome.status == "limited":
        raise PendingLimitExceededError(limit)
    status = JobStatus.SUCCEEDED if outcome.status == "reused" else JobStatus.PENDING
    return BacktestAccepted(id=outcome.id, status=status, reused_from=outcome.reused_from)


async def list_backtests(
    services: Services,
    user: Principal,
    *,
    statuses: list[str] | None,
    bundle_id: uuid.UUID | None,
    created_after: dt.datetime | None,
    created_before: dt.datetime | None,
    descending: bool,
    cursor: str | None,
    limit: int,
) -> BacktestPage:
    """One page of the backtests the caller may see (all of them for an admin)."""
    filters = JobFilter(
        owner_id=user.owner_filter(),
        statuses=statuses,
        bundle_id=bundle_id,
        created_after=created_after,
        created_before=created_before,
    )
    items, next_cursor = await list_jobs(services.pool, filters, descending=descending, cursor=cursor, limit=limit)
    return BacktestPage(items=items, next_cursor=next_cursor)


async def visible_job(services: Services, user: Principal, job_id: uuid.UUID) -> JobState:
    """The job if the caller may see it; another user's job is 'not found', at the same cost."""
    state = await repository.visible_job(services.pool, job_id, user.owner_filter())
    if state is None:
        raise NotFoundError("backtest", job_id)
    return state


async def wait_for_job(services: Services, user: Principal, job_id: uuid.UUID, wait: float) -> JobState:
    """The job's state, once final or after ``wait`` seconds, whichever is first."""
    if wait <= 0:
        return await visible_job(services, user, job_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(wait, services.settings.max_wait_seconds)
    with services.listener.subscribe(job_id) as finished:
        state = await visible_job(services, user, job_id)
        while state.status not in FINAL_STATUSES and (remaining := deadline - loop.time()) > 0:
            await services.listener.wait(finished, remaining)
            state = await visible_job(services, user, job_id)
    return state


async def describe(services: Services, state: JobState) -> Backtest:
    result = None
    if state.status == "succeeded":
        stored = await job_result(services, state)
        if stored is not None:
            metrics = {**stored.metrics, "buy_and_hold_return": await buy_and_hold_return(services, state.dataset_id)}
            result = BacktestResult(metrics=metrics, equity_curve=stored.equity_curve, trades=stored.trades)
    return Backtest(
        id=state.id,
        status=JobStatus(state.status),
        progress=state.progress,
        dataset_id=state.dataset_id,
        bundle_id=state.bundle_id,
        priority=state.priority,
        attempts=state.attempts,
        max_attempts=state.max_attempts,
        cancel_requested=state.cancel_requested,
        error=state.error,
        reused_from=state.reused_from,
        created_at=state.created_at,
        started_at=state.started_at,
        finished_at=state.finished_at,
        config=state.config,
        result=result,
    )


async def cancel(services: Services, user: Principal, job_id: uuid.UUID) -> Backtest:
    await visible_job(services, user, job_id)
    await services.queue.cancel([job_id], owner_id=user.owner_filter())
    return await describe(services, await visible_job(services, user, job_id))


async def stored_result(services: Services, user: Principal, job_id: uuid.UUID) -> StoredResult:
    """A succeeded backtest's stored result (its full detail), else 404."""
    state = await visible_job(services, user, job_id)
    stored = await job_result(services, state) if state.status == "succeeded" else None
    if stored is None:
        raise NotFoundError("result of backtest", job_id)
    return stored


async def trades_csv(services: Services, user: Principal, job_id: uuid.UUID) -> str:
    return exports.trades_csv((await stored_result(services, user, job_id)).trades)


async def equity_csv(services: Services, user: Principal, job_id: uuid.UUID) -> str:
    return exports.equity_csv((await stored_result(services, user, job_id)).equity_curve)


async def progress_events(services: Services, user: Principal, job_id: uuid.UUID) -> AsyncIterator[bytes]:
    """JSON progress events until the job is final (the first is sent at once)."""
    await visible_job(services, user, job_id)
    last: tuple[str, float] | None = None
    with services.listener.subscribe(job_id) as finished:
        while True:
            state = await visible_job(services, user, job_id)
            if (state.status, state.progress) != last:
                last = (state.status, state.progress)
                yield msgspec.json.encode(ProgressEvent(id=job_id, status=state.status, progress=state.progress))
            if state.status in FINAL_STATUSES:
                return
            await services.listener.wait(finished, services.settings.events_interval_seconds)
