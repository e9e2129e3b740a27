"""Two small endpoints the dashboard needs that the rest of the API did not have.

- ``POST /api/v1/validate/backtest`` and ``/validate/bundle``: a dry run of a
  submit. The strategy editor checks what the user types against the same rules
  a submit applies (strategy, grid, options, dataset) without queueing anything,
  and shows the error's ``field`` and ``reason`` next to the editor.
- ``GET /api/v1/datasets/{id}/prices``: the close series of a dataset, so the
  backtest view can draw its trades on the price chart. Stored results keep a
  downsampled equity curve but no prices, and a dataset is only kept as Parquet.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import anyio.to_thread
import msgspec
from litestar import Controller
from litestar import get
from litestar import post
from litestar.params import FromPath
from litestar.params import JSONBody
from litestar.params import Parameter

from backtest_api.backtests import services as backtests
from backtest_api.backtests.schemas import BacktestCreate
from backtest_api.bundles import services as bundles
from backtest_api.bundles.schemas import BundleCreate
from backtest_api.core.dependencies import CurrentUser
from backtest_api.core.dependencies import ServicesDep
from backtest_api.core.errors import InvalidRequestError
from backtest_api.core.errors import NotFoundError
from backtest_api.datasets import services as datasets
from backtest_shared.datasets.store import load_dataset_parquet
from backtest_shared.engine import RANKABLE_METRICS
from backtest_shared.engine import load_parquet
from backtest_shared.engine.result import downsample_indices
from backtest_shared.jobs.repository import check_job_options

#: Enough for a smooth chart of a long dataset; more points are thinned to each bucket's low and high.
DEFAULT_PRICE_POINTS = 100_000
MAX_PRICE_POINTS = 500_000


class Validated(msgspec.Struct, kw_only=True):
    """A request that a submit would accept (it was not queued)."""

    valid: bool
    #: Backtests the submit would create.
    total_jobs: int


class Prices(msgspec.Struct, kw_only=True):
    """A dataset's closes at ``timestamps`` (epoch seconds), thinned to at most ``max_points``."""

    dataset_id: uuid.UUID
    n_bars: int
    timestamps: list[int]
    close: list[float]


class ValidationController(Controller):
    path = "/api/v1/validate"
    tags = ["validation"]

    @post(
        "/backtest",
        operation_id="validateBacktest",
        summary="Check a backtest submit without queueing it (200, or the 400/404 a submit would answer)",
        status_code=200,
    )
    async def backtest(self, services: ServicesDep, user: CurrentUser, data: JSONBody[BacktestCreate]) -> Validated:
        await backtests.queued_job(services, user, data.dataset_id, data.strategy)
        check_job_options(data.priority, data.max_attempts, data.timeout_seconds)
        return Validated(valid=True, total_jobs=1)

    @post(
        "/bundle",
        operation_id="validateBundle",
        summary="Check a bundle submit without queueing it (200 with its size, or the error a submit would answer)",
        status_code=200,
    )
    async def bundle(self, services: ServicesDep, user: CurrentUser, data: JSONBody[BundleCreate]) -> Validated:
        if data.rank_by not in RANKABLE_METRICS:
            raise InvalidRequestError("rank_by", f"unknown metric {data.rank_by!r}")
        check_job_options(data.priority, data.max_attempts, data.timeout_seconds)
        await datasets.content_hash_for_job(services, user, data.dataset_id)
        specs = await anyio.to_thread.run_sync(bundles.expand, services, data)
        return Validated(valid=True, total_jobs=len(specs))


class PricesController(Controller):
    path = "/api/v1/datasets"
    tags = ["datasets"]

    @get(
        "/{dataset_id:uuid}/prices",
        operation_id="getDatasetPrices",
        summary="A dataset's close prices for charts (thinned to max_points)",
    )
    async def prices(
        self,
        services: ServicesDep,
        user: CurrentUser,
        dataset_id: FromPath[uuid.UUID],
        max_points: Annotated[int, Parameter(ge=4, le=MAX_PRICE_POINTS, required=False)] = DEFAULT_PRICE_POINTS,
    ) -> Prices:
        await datasets.get(services, user, dataset_id)
        stored = await load_dataset_parquet(services.pool, dataset_id)
        if stored is None:  # deleted since
            raise NotFoundError("dataset", dataset_id)
        return await anyio.to_thread.run_sync(_thin, dataset_id, stored[1], max_points)


def _thin(dataset_id: uuid.UUID, parquet: bytes, max_points: int) -> Prices:
    data = load_parquet(parquet)
    idx = downsample_indices(data.close, max_points)
    return Prices(
        dataset_id=dataset_id,
        n_bars=len(data.close),
        timestamps=data.timestamps[idx].tolist(),
        close=data.close[idx].tolist(),
    )
