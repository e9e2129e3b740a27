"""``create_app()``: assemble the Litestar application from settings."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar import Router
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components
from litestar.openapi.spec import SecurityScheme

from backtest_api.accounts.controllers import AccountController
from backtest_api.accounts.repository import find_principal
from backtest_api.backtests.controllers import BacktestController
from backtest_api.bundles.controllers import BundleController
from backtest_api.core.auth import PUBLIC_PATHS
from backtest_api.core.auth import ApiKeyAuthMiddleware
from backtest_api.core.auth import Authenticator
from backtest_api.core.dependencies import DEPENDENCIES
from backtest_api.core.edge import edge
from backtest_api.core.errors import EXCEPTION_HANDLERS
from backtest_api.core.jsonbody import ApiRequest
from backtest_api.core.listener import NotificationListener
from backtest_api.core.openapi import SCHEMA_PLUGINS
from backtest_api.core.openapi import complete_document
from backtest_api.core.ratelimit import RateLimiter
from backtest_api.core.requestid import RequestIdLogFilter
from backtest_api.core.state import Services
from backtest_api.core.submitter import Submitter
from backtest_api.dashboard.web import dashboard_routes
from backtest_api.dashboard.web import docs_render_plugins
from backtest_api.datasets.controllers import DatasetController
from backtest_api.idempotency.middleware import KEY_PARAMETER
from backtest_api.idempotency.middleware import idempotency_middleware
from backtest_api.idempotency.purger import purge_periodically
from backtest_api.ops.controllers import HealthController
from backtest_api.ops.controllers import MetricsController
from backtest_api.ops.controllers import QueueController
from backtest_api.ops.housekeeping import prune_finish_log_periodically
from backtest_api.ops.services import check_schema_revision
from backtest_api.settings import Settings
from backtest_api.settings import get_settings
from backtest_api.workers.controllers import WorkerController
from backtest_shared.db.pool import open_pool
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import QueueSettings
from backtest_shared.tasks import stop_tasks

#: At most one "jobs pending" notification per API process in this window (the
#: first after a quiet spell goes at once): under load, one NOTIFY per submit
#: would cost the API a round trip per request and wake workers already busy.
PENDING_NOTIFY_INTERVAL_SECONDS = 0.005

API_DESCRIPTION = """Submit, watch and cancel backtests and parameter sweeps; upload market data.

Authenticate with `Authorization: Bearer <API key>`. Every POST accepts an `Idempotency-Key`.
Every error is an RFC 9457 problem (`application/problem+json`): `type`, `title`, `status`,
`detail`, a stable `code`, the `field` to blame when there is one, and the `request_id`
that every response also carries in `X-Request-ID`."""


def _lifespan(settings: Settings):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await open_pool(
            settings.database_url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            name="backtest-api",
            application_name="backtest-api",
        )
        # While the database is away, a request waits this long for a connection, then answers 503.
        pool.timeout = settings.pool_timeout_seconds
        authenticator = Authenticator(functools.partial(find_principal, pool), settings.auth_cache_seconds)
        listener = NotificationListener(
            settings.database_url, on_key_revoked=authenticator.forget, on_connected=authenticator.forget_all
        )
        queue = JobQueue(pool, QueueSettings(notify_pending_interval_seconds=PENDING_NOTIFY_INTERVAL_SECONDS))
        try:
            await listener.start()
            app.state.services = Services(
                settings=settings,
                pool=pool,
                queue=queue,
                authenticator=authenticator,
                rate_limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
                listener=listener,
                submitter=Submitter(queue),
            )
            app.state.pending_limit_retry_after = settings.pending_limit_retry_after
            housekeeping = [
                asyncio.create_task(purge_periodically(pool, settings.idempotency_ttl_seconds), name="idempotency"),
                asyncio.create_task(prune_finish_log_periodically(queue), name="finish-log"),
                # In the background: a database that is away must not hold up the start.
                asyncio.create_task(check_schema_revision(app.state.services), name="schema-revision"),
            ]
            try:
                yield
            finally:
                await stop_tasks(housekeeping)
        finally:
            await listener.stop()
            await queue.flush_notifications()
            await pool.close()

    return lifespan


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Backtest platform API",
        version="1.0.0",
        description=API_DESCRIPTION,
        path="/docs",
        render_plugins=docs_render_plugins(),
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(type="http", scheme="bearer", description="An API key from the admin CLI"),
            }
        ),
        security=[{"apiKey": []}],
        use_handler_docstrings=False,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    datasets = Router(
        path="/",
        route_handlers=[DatasetController],
        request_max_body_size=settings.max_dataset_bytes,
    )
    app = Litestar(
        route_handlers=[
            BacktestController,
            BundleController,
            datasets,
            AccountController,
            WorkerController,
            QueueController,
            HealthController,
            MetricsController,
            *dashboard_routes(),
        ],
        lifespan=[_lifespan(settings)],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            DefineMiddleware(ApiKeyAuthMiddleware, exclude=PUBLIC_PATHS),
            idempotency_middleware,
        ],
        openapi_config=_openapi(),
        plugins=SCHEMA_PLUGINS,
        request_class=ApiRequest,
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,
    )
    complete_document(app, post_parameters=[KEY_PARAMETER])
    # Outside Litestar's own exception handling: sees the status each client really gets.
    app.asgi_handler = edge(app.asgi_handler)
    return app


def asgi_app() -> Litestar:
    """The application factory uvicorn serves (``--factory backtest_api.app:asgi_app``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdLogFilter())
    return create_app()
