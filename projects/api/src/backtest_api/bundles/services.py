"""Creating sweeps (N jobs in one transaction), summarising, waiting for and cancelling them."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import msgspec
import psycopg

from backtest_api import suggestions
from backtest_api.backtests.schemas import ProgressEvent
from backtest_api.backtests.services import check_enough_bars
from backtest_api.backtests.services import max_pending
from backtest_api.bundles import grid as constrained
from backtest_api.bundles import repository
from backtest_api.bundles.repository import BundleRow
from backtest_api.bundles.schemas import Bundle
from backtest_api.bundles.schemas import BundleAccepted
from backtest_api.bundles.schemas import BundleCreate
from backtest_api.bundles.schemas import BundleStatus
from backtest_api.bundles.schemas import BundleSummary
from backtest_api.bundles.schemas import RankBy
from backtest_api.bundles.schemas import RankedBacktest
from backtest_api.core.errors import InvalidRequestError
from backtest_api.core.errors import LimitExceededError
from backtest_api.core.errors import NotFoundError
from backtest_api.core.principal import Principal
from backtest_api.core.state import Services
from backtest_api.datasets import services as datasets
from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import StrategySpec
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import expand_grid
from backtest_shared.jobs.config import BacktestConfig
from backtest_shared.jobs.config import config_content_hash
from backtest_shared.jobs.models import QueuedJob

UNFINISHED = ("pending", "running")


def _decode(raw: Any, prefix: str) -> StrategySpec:
    try:
        return decode_strategy(raw)
    except EngineValidationError as exc:
        field = f"{prefix}.{exc.field}" if exc.field else prefix
        raise EngineValidationError(field, suggestions.explain(field, exc.reason)) from None


def _check_size(services: Services, size: int, field: str) -> None:
    limit = services.settings.max_bundle_size
    if size > limit:
        raise LimitExceededError(
            f"{field}: the bundle would have {size} backtests; the limit is {limit} per bundle "
            "(split the sweep into several bundles)",
            retry_after=services.settings.pending_limit_retry_after,
            field=field,
        )


def expand(services: Services, request: BundleCreate) -> list[StrategySpec]:
    """The bundle's validated specs (CPU-bound: call it in a thread for big sweeps)."""
    if request.strategies is not None:
        if request.base is not None or request.grid is not None:
            raise InvalidRequestError("strategies", "give either strategies or base (with a grid), not both")
        if request.where is not None:
            raise InvalidRequestError("where", "constraints filter a grid; a list of strategies has none")
        if not request.strategies:
            raise InvalidRequestError("strategies", "must not be empty")
        _check_size(services, len(request.strategies), "strategies")
        return [_decode(raw, f"strategies[{i}]") for i, raw in enumerate(request.strategies)]
    if request.base is None:
        raise InvalidRequestError("base", "required (a base strategy and a grid, or a list of strategies)")
    grid = request.grid or {}
    if request.where is None:
        _check_size(services, math.prod(len(values) for values in grid.values()), "grid")
    base = _decode(request.base, "base")
    try:
        if request.where is None:
            return expand_grid(base, grid)
        keys, combos = constrained.filtered_combinations(base, grid, constrained.parse_where(request.where))
        if not combos:
            raise InvalidRequestError("where", "no combination of the grid satisfies the constraints")
        _check_size(services, len(combos), "grid")
        return constrained.build_specs(base, keys, combos)
    except EngineValidationError as exc:
        field = exc.field if exc.field.startswith(("grid", "where")) else f"base.{exc.field}"
        raise EngineValidationError(field, exc.reason) from None


def _jobs(specs: list[StrategySpec], dataset_id: uuid.UUID, content_hash: str) -> list[QueuedJob]:
    return [
        QueuedJob(
            config=BacktestConfig(dataset_id=dataset_id, strategy=spec),
            config_hash=config_content_hash(spec, content_hash),
        )
        for spec in specs
    ]


async def submit(services: Services, user: Principal, request: BundleCreate) -> BundleAccepted:
    dataset = await datasets.dataset_for_job(services, user, request.dataset_id)
    specs = await anyio.to_thread.run_sync(expand, services, request)
    check_enough_bars(dataset, specs, "the bundle's longest warm-up")
    jobs = await anyio.to_thread.run_sync(_jobs, specs, request.dataset_id, dataset.content_hash)
    bundle_id = uuid.uuid4()
    stored_request = msgspec.to_builtins(request)
    if stored_request.get("strategies") is not None:
        stored_request["strategies"] = len(request.strategies or ())
    try:
        _ids, reused = await services.queue.create_bundle(
            user.id,
            bundle_id,
            jobs,
            name=request.name,
            rank_by=str(request.rank_by),
            request=stored_request,
            priority=request.priority,
            max_attempts=request.max_attempts,
            timeout_seconds=request.timeout_seconds,
            max_pending=max_pending(services, user),
            reuse=request.reuse,
        )
    except psycopg.errors.ForeignKeyViolation:
        datasets.forget(services, request.dataset_id)
        raise NotFoundError("dataset", request.dataset_id, field="dataset_id") from None
    status: BundleStatus = "finished" if len(reused) == len(jobs) else "pending"
    return BundleAccepted(id=bundle_id, total_jobs=len(jobs), reused_jobs=len(reused), status=status)


async def list_bundles(services: Services, user: Principal, limit: int) -> list[BundleSummary]:
    """The caller's bundles (everyone's for an admin), newest first."""
    return await repository.list_bundles(services.pool, user.owner_filter(), limit)


async def visible_bundle(services: Services, user: Principal, bundle_id: uuid.UUID) -> BundleRow:
    """The bundle if the caller may see it; another user's bundle is 'not found', at the same cost."""
    bundle = await repository.get_bundle(services.pool, bundle_id, user.owner_filter())
    if bundle is None:
        raise NotFoundError("bundle", bundle_id)
    return bundle


def _progress(bundle: BundleRow, counts: dict[str, tuple[int, float]]) -> tuple[BundleStatus, bool, float]:
    unfinished = sum(counts.get(status, (0, 0.0))[0] for status in UNFINISHED)
    done = sum(n for status, (n, _) in counts.items() if status not in UNFINISHED)
    partial = counts.get("running", (0, 0.0))[1]
    progress = (done + partial) / bundle.total_jobs if bundle.total_jobs else 1.0
    if unfinished == 0:
        return ("cancelled" if counts.get("cancelled", (0, 0.0))[0] else "finished"), True, 1.0
    status: BundleStatus = "running" if counts.get("running", (0, 0.0))[0] or done else "pending"
    return status, False, min(progress, 1.0)


def parameters(bundle: BundleRow, strategy: dict[str, Any]) -> dict[str, Any]:
    """The grid values of one backtest of the bundle (a list bundle: the strategy's name)."""
    grid = bundle.request.get("grid") or {}
    if not grid:
        return {"name": strategy.get("name")}
    values: dict[str, Any] = {}
    for path in grid:
        node: Any = strategy
        for part in path.split("."):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict):
                node = node.get(part)
            else:
                node = None
        values[path] = node
    return values


async def wait_for_bundle(
    services: Services, user: Principal, bundle_id: uuid.UUID, wait: float
) -> tuple[BundleRow, dict[str, tuple[int, float]]]:
    bundle = await visible_bundle(services, user, bundle_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(max(wait, 0.0), services.settings.max_wait_seconds)
    with services.listener.subscribe(bundle_id) as finished:
        counts = await repository.counts(services.pool, bundle_id)
        while not _progress(bundle, counts)[1] and (remaining := deadline - loop.time()) > 0:
            await services.listener.wait(finished, remaining)
            counts = await repository.counts(services.pool, bundle_id)
    return bundle, counts


async def describe(
    services: Services, bundle: BundleRow, counts: dict[str, tuple[int, float]], rank_by: RankBy | None, top: int
) -> Bundle:
    metric = RankBy(rank_by or bundle.rank_by)
    rows = await repository.ranked(services.pool, bundle.id, metric, top)
    results = [
        RankedBacktest(rank=i + 1, backtest_id=job_id, parameters=parameters(bundle, strategy), metrics=metrics)
        for i, (job_id, strategy, metrics) in enumerate(rows)
    ]
    status, finished, progress = _progress(bundle, counts)
    return Bundle(
        id=bundle.id,
        name=bundle.name,
        status=status,
        finished=finished,
        total_jobs=bundle.total_jobs,
        counts={status_: n for status_, (n, _) in sorted(counts.items())},
        progress=progress,
        rank_by=metric,
        created_at=bundle.created_at,
        results=results,
        total_results=counts.get("succeeded", (0, 0.0))[0],
        best=results[0] if results else None,
    )


async def cancel(services: Services, user: Principal, bundle_id: uuid.UUID) -> dict[str, int]:
    await visible_bundle(services, user, bundle_id)
    changed = await services.queue.cancel_bundle(bundle_id, owner_id=user.owner_filter())
    summary = {"cancelled": 0, "cancel_requested": 0}
    for status in changed.values():
        summary["cancelled" if status == "cancelled" else "cancel_requested"] += 1
    return summary


async def progress_events(services: Services, user: Principal, bundle_id: uuid.UUID) -> AsyncIterator[bytes]:
    bundle = await visible_bundle(services, user, bundle_id)
    last: tuple[str, float] | None = None
    with services.listener.subscribe(bundle_id) as finished:
        while True:
            status, done, progress = _progress(bundle, await repository.counts(services.pool, bundle_id))
            if (status, progress) != last:
                last = (status, progress)
                yield msgspec.json.encode(ProgressEvent(id=bundle_id, status=status, progress=progress))
            if done:
                return
            await services.listener.wait(finished, services.settings.events_interval_seconds)
