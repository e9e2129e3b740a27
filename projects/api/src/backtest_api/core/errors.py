"""Domain errors and the one place that maps every error to an HTTP answer.

Every 4xx/5xx is an RFC 9457 problem (``application/problem+json``, ``Problem``):
``type``, ``title``, ``status`` and ``detail``, plus a stable ``code``, the
``field`` (dotted path) and ``reason`` when one input is to blame, and the
request's id. The database being unreachable is a 503 with ``Retry-After``,
whichever layer met it: the API recovers by itself once the database is back.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Mapping
from typing import Any

import msgspec
import psycopg
import psycopg_pool
from litestar import Request
from litestar import Response
from litestar.exceptions import HTTPException
from litestar.exceptions import ValidationException
from litestar.types import ExceptionHandlersMap

from backtest_api.core import requestid
from backtest_shared.engine import EngineValidationError
from backtest_shared.jobs.config import JobConfigError
from backtest_shared.jobs.repository import PendingLimitExceededError

logger = logging.getLogger("backtest_api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: Problem types are URNs: stable names, listed in docs/api.md, that resolve nowhere.
PROBLEM_TYPE_PREFIX = "urn:backtest:problem:"
#: Seconds a client is told to wait while the database is unreachable.
DATABASE_RETRY_AFTER_SECONDS = 2


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What every 4xx/5xx answer carries (RFC 9457 problem details with extension members)."""

    #: ``urn:backtest:problem:<code>``.
    type: str
    #: The HTTP status's phrase, e.g. ``Bad Request``.
    title: str
    status: int
    #: What went wrong, in the client's terms.
    detail: str
    #: Stable machine-readable code, e.g. ``invalid_request``.
    code: str
    #: The same text as ``detail``.
    message: str
    #: Dotted path of the input to blame (``strategy.indicators.fast.period``, ``body``, ``data.close[3]``).
    field: str | None = None
    #: Why that input was refused.
    reason: str | None = None
    #: The request's ``X-Request-ID``.
    request_id: str | None = None


class ApiError(Exception):
    """A refusal the API explains to the client."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message
        self.field = field
        self.reason = reason
        self.headers = dict(headers or {})
        super().__init__(message)


class NotFoundError(ApiError):
    status_code = 404
    code = "not_found"

    def __init__(self, resource: str, identifier: object, *, field: str | None = None) -> None:
        super().__init__(
            f"{resource} {identifier} not found",
            field=field,
            reason="not found" if field else None,
        )


class ConflictError(ApiError):
    status_code = 409
    code = "conflict"


class InvalidRequestError(ApiError):
    """One field of the request is wrong; ``message`` is ``"field: reason"``."""

    status_code = 400
    code = "invalid_request"

    def __init__(self, field: str, reason: str, *, status_code: int = 400) -> None:
        super().__init__(f"{field}: {reason}", field=field, reason=reason)
        self.status_code = status_code


class LimitExceededError(ApiError):
    status_code = 429
    code = "limit_exceeded"

    def __init__(self, message: str, *, retry_after: float, field: str | None = None) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(message, field=field, reason="limit exceeded", headers={"Retry-After": str(seconds)})


class UnauthorizedError(ApiError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="backtest"'})


class ForbiddenError(ApiError):
    status_code = 403
    code = "forbidden"


class UnsupportedMediaTypeError(ApiError):
    status_code = 415
    code = "unsupported_media_type"


class DatabaseUnavailableError(ApiError):
    status_code = 503
    code = "unavailable"

    def __init__(self) -> None:
        super().__init__(
            "the database is unreachable; retry shortly",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )


_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "limit_exceeded",
    503: "unavailable",
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    reason: str | None = None,
    request_id: str | None = None,
) -> Problem:
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return Problem(
        type=PROBLEM_TYPE_PREFIX + code,
        title=title,
        status=status,
        detail=detail,
        code=code,
        message=detail,
        field=field,
        reason=reason,
        request_id=request_id,
    )


def error_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    reason: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[Problem]:
    body = problem(status, code, message, field=field, reason=reason, request_id=requestid.of(request.scope))
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {}))


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Problem]:
    return error_response(
        request, exc.status_code, exc.code, exc.message, field=exc.field, reason=exc.reason, headers=exc.headers
    )


def _field_error(request: Request[Any, Any, Any], exc: JobConfigError | EngineValidationError) -> Response[Problem]:
    return error_response(
        request, 400, "invalid_request", f"{exc.field}: {exc.reason}", field=exc.field, reason=exc.reason
    )


def _pending_limit(request: Request[Any, Any, Any], exc: PendingLimitExceededError) -> Response[Problem]:
    retry_after = getattr(request.app.state, "pending_limit_retry_after", 10)
    return error_response(
        request,
        429,
        "limit_exceeded",
        f"too many pending jobs: the limit is {exc.limit}; wait for some to finish",
        field="pending_jobs",
        reason="limit exceeded",
        headers={"Retry-After": str(retry_after)},
    )


def _first_problem(extra: Any) -> tuple[str | None, str | None]:
    if isinstance(extra, list) and extra and isinstance(extra[0], Mapping):
        first = extra[0]
        key = first.get("key")
        message = first.get("message")
        return (str(key) if key is not None else None, str(message) if message is not None else None)
    if isinstance(extra, Mapping):
        return (None, str(extra))
    return (None, None)


_BODY_KEYS = (None, "", "body", "data")


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    field, reason = _first_problem(exc.extra)
    if field == "data" and reason in ("'data'", None):  # no body at all where one is required
        reason = "the request has no body; send a JSON object"
    if reason is not None and " - at `$" in reason:
        reason, _sep, path = reason.partition(" - at `$")
        path = path.rstrip("`").lstrip(".")
        field = f"{field}.{path}" if field and field not in _BODY_KEYS and path else (path or field)
    if reason and reason.startswith(("Object contains unknown field", "Object missing required field")):
        name = reason.split("`")[1] if "`" in reason else ""
        field = f"{field}.{name}" if field and field not in _BODY_KEYS else name
        reason = "unknown field" if reason.startswith("Object contains") else "required field is missing"
    if field in _BODY_KEYS:
        field = "body"
    reason = reason or exc.detail or "invalid request"
    if field:
        return error_response(request, 400, "invalid_request", f"{field}: {reason}", field=field, reason=reason)
    return error_response(request, 400, "invalid_request", reason, reason=reason)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    if status >= 500:
        logger.error("server error: %s", exc.detail)
    message = str(exc.detail)
    if status == 400:  # the body could not be decoded at all
        reason = f"malformed JSON: {message}"
        return error_response(request, 400, "invalid_request", f"body: {reason}", field="body", reason=reason)
    if status == 413:
        message = "the request body is larger than this endpoint accepts"
    return error_response(request, status, _HTTP_CODES.get(status, "error"), message, headers=exc.headers)


def _data_error(request: Request[Any, Any, Any], exc: psycopg.errors.DataError) -> Response[Problem]:
    return error_response(
        request, 400, "invalid_request", f"a value is out of range or malformed: {exc.diag.message_primary}"
    )


def _database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    logger.warning("database unavailable: %s", exc)
    return _api_error(request, DatabaseUnavailableError())


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    logger.exception("unhandled error", exc_info=exc)
    return error_response(request, 500, "internal_error", "internal server error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: _api_error,
    JobConfigError: _field_error,
    EngineValidationError: _field_error,
    PendingLimitExceededError: _pending_limit,
    ValidationException: _validation,
    HTTPException: _http,
    psycopg.errors.DataError: _data_error,
    # Connection refused or lost, server shutting down or starting, no pooled connection in time.
    psycopg.OperationalError: _database_unavailable,
    psycopg.InterfaceError: _database_unavailable,
    psycopg_pool.PoolTimeout: _database_unavailable,
    psycopg_pool.PoolClosed: _database_unavailable,
    Exception: _unexpected,
}
