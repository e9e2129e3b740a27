"""``/api/v1/bundles``: submit a sweep, read it (ranked results, long-poll), cancel it, stream progress."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller
from litestar import Response
from litestar import get
from litestar import post
from litestar.params import FromPath
from litestar.params import JSONBody
from litestar.params import Parameter
from litestar.response import ServerSentEvent

from backtest_api.backtests.events import progress_messages
from backtest_api.bundles import exports
from backtest_api.bundles import services as bundles
from backtest_api.bundles.schemas import RANK_BY_DESCRIPTION
from backtest_api.bundles.schemas import Bundle
from backtest_api.bundles.schemas import BundleAccepted
from backtest_api.bundles.schemas import BundleCreate
from backtest_api.bundles.schemas import BundlePage
from backtest_api.bundles.schemas import RankBy
from backtest_api.core.dependencies import CurrentUser
from backtest_api.core.dependencies import ServicesDep
from backtest_api.core.jsonbody import require_json
from backtest_api.core.openapi import links
from backtest_api.core.openapi import problems
from backtest_api.core.params import Limit
from backtest_api.core.params import Wait

TOP_DESCRIPTION = (
    "How many ranked results to return (default 20, 0 for none); `total_results` says how many there are, "
    "and `results.csv` has all of them"
)


class BundleCancelled(msgspec.Struct, kw_only=True):
    #: Pending backtests cancelled at once.
    cancelled: int
    #: Running backtests whose workers were asked to stop.
    cancel_requested: int


class BundleController(Controller):
    path = "/api/v1/bundles"
    tags = ["bundles"]

    @post(
        "/",
        operation_id="submitBundle",
        summary="Submit a sweep: a base strategy and a parameter grid, or a list of strategies",
        description=(
            "All backtests are created in one transaction (all or none). The bundle size is bounded "
            "(10,000 by default; more answers 429). Identical finished results are reused unless `reuse` is false."
        ),
        status_code=202,
        before_request=require_json,
        responses=problems(404),
        opt=links((202,), "bundle_id", "getBundle", "cancelBundle", "getBundleResultsCsv"),
    )
    async def submit(
        self, services: ServicesDep, user: CurrentUser, data: JSONBody[BundleCreate]
    ) -> Response[BundleAccepted]:
        accepted = await bundles.submit(services, user, data)
        return Response(accepted, status_code=202, headers={"Location": f"{self.path}/{accepted.id}"})

    @get("/", operation_id="listBundles", summary="List your bundles, newest first")
    async def list_bundles(
        self,
        services: ServicesDep,
        user: CurrentUser,
        limit: Limit = 50,
    ) -> BundlePage:
        return BundlePage(items=await bundles.list_bundles(services, user, limit))

    @get(
        "/{bundle_id:uuid}",
        operation_id="getBundle",
        summary="Get a bundle: counts per status, progress, ranked results, best parameters",
    )
    async def get_bundle(
        self,
        services: ServicesDep,
        user: CurrentUser,
        bundle_id: FromPath[uuid.UUID],
        wait: Wait = 0.0,
        rank_by: Annotated[RankBy | None, Parameter(description=RANK_BY_DESCRIPTION, required=False)] = None,
        top: Annotated[int, Parameter(ge=0, le=10_000, required=False, description=TOP_DESCRIPTION)] = 20,
    ) -> Bundle:
        bundle, counts = await bundles.wait_for_bundle(services, user, bundle_id, wait)
        return await bundles.describe(services, bundle, counts, rank_by, top)

    @get(
        "/{bundle_id:uuid}/events",
        operation_id="streamBundleEvents",
        summary="Server-sent events of a bundle's progress until every backtest is final",
        media_type="text/event-stream",
    )
    async def events(self, services: ServicesDep, user: CurrentUser, bundle_id: FromPath[uuid.UUID]) -> ServerSentEvent:
        await bundles.visible_bundle(services, user, bundle_id)
        return ServerSentEvent(progress_messages(bundles.progress_events(services, user, bundle_id)))

    @get(
        "/{bundle_id:uuid}/results.csv",
        operation_id="getBundleResultsCsv",
        summary="Every succeeded backtest of a bundle as CSV, ranked: one column per parameter and metric",
        media_type="text/csv",
    )
    async def results_csv(
        self,
        services: ServicesDep,
        user: CurrentUser,
        bundle_id: FromPath[uuid.UUID],
        rank_by: Annotated[RankBy | None, Parameter(description=RANK_BY_DESCRIPTION, required=False)] = None,
    ) -> Response[str]:
        bundle = await bundles.visible_bundle(services, user, bundle_id)
        metric = str(rank_by or bundle.rank_by)
        body = await exports.results_csv(services, bundle, metric)
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="bundle-{bundle_id}-results.csv"'},
        )

    @post(
        "/{bundle_id:uuid}/cancel",
        operation_id="cancelBundle",
        summary="Cancel a bundle's pending and running backtests",
        status_code=200,
    )
    async def cancel(self, services: ServicesDep, user: CurrentUser, bundle_id: FromPath[uuid.UUID]) -> BundleCancelled:
        return BundleCancelled(**await bundles.cancel(services, user, bundle_id))
