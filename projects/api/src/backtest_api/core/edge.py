"""The edge: the one ASGI layer every HTTP response passes through, outside Litestar's own.

It wraps the application's whole handler stack, including the exception handling
that turns an error raised in any middleware (authentication, rate limiting,
idempotency) into its problem response. So what it sees is what the client
gets: the status it records in ``backtest_api_request_duration_seconds`` is the
status sent, and the ``X-Request-ID`` it adds is on every response.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp
from litestar.types import Message
from litestar.types import Receive
from litestar.types import Scope
from litestar.types import Send

from backtest_api.core import requestid
from backtest_api.core.metrics import REQUEST_LATENCY


def edge(app: ASGIApp) -> ASGIApp:
    """``app`` with request ids and request metrics (HTTP only; other scopes pass through)."""

    async def layer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = requestid.choose(scope["headers"])
        requestid.remember(scope, request_id)
        token = requestid.current.set(request_id)
        header = (b"x-request-id", request_id.encode())
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if bytes(h[0]).lower() != requestid.HEADER]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        except Exception:
            status = status or 500  # the server answers an escaped error with 500
            raise
        finally:
            # Still 0: the connection ended before any answer (the client went away), logged as 499.
            route: Any = scope.get("path_template") or "unmatched"
            REQUEST_LATENCY.labels(scope["method"], route, str(status or 499)).observe(time.perf_counter() - started)
            requestid.current.reset(token)

    return layer
