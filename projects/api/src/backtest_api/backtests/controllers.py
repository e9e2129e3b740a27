"""``/api/v1/backtests``: submit, read (with long-poll), list, cancel, trades as CSV, progress events."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated
from typing import Literal

from litestar import Controller
from litestar import Response
from litestar import get
from litestar import post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.params import JSONBody
from litestar.params import Parameter
from litestar.response import ServerSentEvent

from backtest_api.backtests import services as backtests
from backtest_api.backtests.events import progress_messages
from backtest_api.backtests.schemas import Backtest
from backtest_api.backtests.schemas import BacktestAccepted
from backtest_api.backtests.schemas import BacktestCreate
from backtest_api.backtests.schemas import BacktestPage
from backtest_api.core.dependencies import CurrentUser
from backtest_api.core.dependencies import ServicesDep
from backtest_api.core.errors import PROBLEM_MEDIA_TYPE
from backtest_api.core.errors import InvalidRequestError
from backtest_api.core.errors import Problem
from backtest_api.core.jsonbody import require_json
from backtest_api.core.openapi import links
from backtest_api.core.openapi import problems
from backtest_api.core.params import Limit
from backtest_api.core.params import Wait
from backtest_shared.jobs.lifecycle import JobStatus

#: RFC 3339 date-time with its offset, as OpenAPI's ``date-time`` format means it.
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
Timestamp = Annotated[
    str | None,
    Parameter(
        required=False,
        description="RFC 3339 date-time with an offset, e.g. 2026-01-31T12:00:00Z",
        schema_extra={"format": "date-time", "pattern": RFC3339},
    ),
]


def _timestamp(name: str, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    if not re.fullmatch(RFC3339, value):
        raise InvalidRequestError(name, f"{value!r} is not an RFC 3339 date-time such as 2026-01-31T12:00:00Z")
    try:
        return dt.datetime.fromisoformat(value.replace("z", "Z").replace("t", "T").replace(" ", "T"))
    except ValueError:
        raise InvalidRequestError(name, f"{value!r} is not a valid date-time") from None


#: Reads of a result stored as a summary regenerate its detail (``backtests/results.py``),
#: and answer 409 when that cannot be done exactly.
NOT_REPRODUCIBLE = {
    409: ResponseSpec(
        data_container=Problem,
        media_type=PROBLEM_MEDIA_TYPE,
        description="The result was stored as a summary and its trades cannot be regenerated exactly",
        generate_examples=False,
    )
}


class BacktestController(Controller):
    path = "/api/v1/backtests"
    tags = ["backtests"]

    @post(
        "/",
        operation_id="submitBacktest",
        summary="Submit a backtest",
        description=(
            "Queues one backtest and answers 202 with its id and a Location header. When an identical "
            "finished backtest exists (same strategy, dataset content and engine version) and `reuse` is "
            "true, the new backtest is answered at once: status `succeeded`, `reused_from` set."
        ),
        status_code=202,
        before_request=require_json,
        responses=problems(404),
        opt=links(
            (202,),
            "backtest_id",
            "getBacktest",
            "cancelBacktest",
            "getBacktestTradesCsv",
            "getBacktestEquityCsv",
        ),
    )
    async def submit(
        self, services: ServicesDep, user: CurrentUser, data: JSONBody[BacktestCreate]
    ) -> Response[BacktestAccepted]:
        accepted = await backtests.submit(services, user, data)
        return Response(accepted, status_code=202, headers={"Location": f"{self.path}/{accepted.id}"})

    @get(
        "/",
        operation_id="listBacktests",
        summary="List your backtests",
        description="Filters combine with AND; pages are keyset-paginated (pass `next_cursor` back as `cursor`).",
    )
    async def list_backtests(
        self,
        services: ServicesDep,
        user: CurrentUser,
        status: Annotated[list[JobStatus] | None, Parameter(required=False)] = None,
        bundle_id: Annotated[uuid.UUID | None, Parameter(required=False)] = None,
        created_after: Timestamp = None,
        created_before: Timestamp = None,
        sort: Annotated[
            Literal["created_at", "-created_at"],
            Parameter(description="created_at (oldest first) or -created_at", required=False),
        ] = "-created_at",
        limit: Limit = 50,
        cursor: Annotated[str | None, Parameter(max_length=200, required=False)] = None,
    ) -> BacktestPage:
        return await backtests.list_backtests(
            services,
            user,
            statuses=[str(s) for s in status] if status else None,
            bundle_id=bundle_id,
            created_after=_timestamp("created_after", created_after),
            created_before=_timestamp("created_before", created_before),
            descending=sort == "-created_at",
            cursor=cursor,
            limit=limit,
        )

    @get(
        "/{backtest_id:uuid}",
        operation_id="getBacktest",
        responses=NOT_REPRODUCIBLE,
        summary="Get a backtest (status, progress, timestamps, error, result)",
    )
    async def get_backtest(
        self, services: ServicesDep, user: CurrentUser, backtest_id: FromPath[uuid.UUID], wait: Wait = 0.0
    ) -> Backtest:
        state = await backtests.wait_for_job(services, user, backtest_id, wait)
        return await backtests.describe(services, state)

    @get(
        "/{backtest_id:uuid}/trades.csv",
        operation_id="getBacktestTradesCsv",
        responses=NOT_REPRODUCIBLE,
        summary="A succeeded backtest's trades as CSV (ISO-8601 UTC times)",
        media_type="text/csv",
    )
    async def trades_csv(
        self, services: ServicesDep, user: CurrentUser, backtest_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        body = await backtests.trades_csv(services, user, backtest_id)
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="trades-{backtest_id}.csv"'},
        )

    @get(
        "/{backtest_id:uuid}/equity.csv",
        operation_id="getBacktestEquityCsv",
        responses=NOT_REPRODUCIBLE,
        summary="A succeeded backtest's equity curve and drawdown as CSV (ISO-8601 UTC times)",
        media_type="text/csv",
    )
    async def equity_csv(
        self, services: ServicesDep, user: CurrentUser, backtest_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        body = await backtests.equity_csv(services, user, backtest_id)
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="equity-{backtest_id}.csv"'},
        )

    @get(
        "/{backtest_id:uuid}/events",
        operation_id="streamBacktestEvents",
        summary="Server-sent events of a backtest's progress until it is final",
        media_type="text/event-stream",
    )
    async def events(
        self, services: ServicesDep, user: CurrentUser, backtest_id: FromPath[uuid.UUID]
    ) -> ServerSentEvent:
        await backtests.visible_job(services, user, backtest_id)
        return ServerSentEvent(progress_messages(backtests.progress_events(services, user, backtest_id)))

    @post(
        "/{backtest_id:uuid}/cancel",
        operation_id="cancelBacktest",
        summary="Cancel a backtest (pending: at once; running: the worker is asked to stop)",
        status_code=200,
    )
    async def cancel(self, services: ServicesDep, user: CurrentUser, backtest_id: FromPath[uuid.UUID]) -> Backtest:
        return await backtests.cancel(services, user, backtest_id)
