"""Domain errors and the one place that maps every error to an HTTP answer.

Every error body has the same shape (``ErrorBody``): ``status``, a stable
``code``, a human ``message`` and, when one input is to blame, the ``field``
(dotted path) and the ``reason``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec
import psycopg
from litestar import MediaType
from litestar import Request
from litestar import Response
from litestar.exceptions import HTTPException
from litestar.exceptions import ValidationException
from litestar.types import ExceptionHandlersMap

from backtest_shared.engine import EngineValidationError
from backtest_shared.jobs.config import JobConfigError
from backtest_shared.jobs.repository import PendingLimitExceededError

logger = logging.getLogger("backtest_api")


class ErrorBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What every 4xx/5xx answer carries."""

    status: int
    code: str
    message: str
    field: str | None = None
    reason: str | None = None


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


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "limit_exceeded",
}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    reason: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[ErrorBody]:
    body = ErrorBody(status=status, code=code, message=message, field=field, reason=reason)
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=dict(headers or {}))


def _api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[ErrorBody]:
    return error_response(
        exc.status_code, exc.code, exc.message, field=exc.field, reason=exc.reason, headers=exc.headers
    )


def _field_error(_: Request[Any, Any, Any], exc: JobConfigError | EngineValidationError) -> Response[ErrorBody]:
    return error_response(400, "invalid_request", f"{exc.field}: {exc.reason}", field=exc.field, reason=exc.reason)


def _pending_limit(request: Request[Any, Any, Any], exc: PendingLimitExceededError) -> Response[ErrorBody]:
    retry_after = getattr(request.app.state, "pending_limit_retry_after", 10)
    return error_response(
        429,
        "limit_exceeded",
        f"too many pending jobs: the limit is {exc.limit}; wait for some to finish",
        field="pending_jobs",
        reason="limit exceeded",
        headers={"Retry-After": str(retry_after)},
    )


def _first_problem(extra: Any) -> tuple[str | None, str | None]:
    if isinstance(extra, list) and extra and isinstance(extra[0], Mapping):
        problem = extra[0]
        key = problem.get("key")
        message = problem.get("message")
        return (str(key) if key is not None else None, str(message) if message is not None else None)
    if isinstance(extra, Mapping):
        return (None, str(extra))
    return (None, None)


_BODY_KEYS = (None, "", "body", "data")


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    field, reason = _first_problem(exc.extra)
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
        return error_response(400, "invalid_request", f"{field}: {reason}", field=field, reason=reason)
    return error_response(400, "invalid_request", reason, reason=reason)


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    status = exc.status_code
    if status >= 500:
        logger.error("server error: %s", exc.detail)
    message = str(exc.detail)
    if status == 400:  # the body could not be decoded at all
        reason = f"malformed JSON: {message}"
        return error_response(400, "invalid_request", f"body: {reason}", field="body", reason=reason)
    return error_response(status, _HTTP_CODES.get(status, "error"), message, headers=exc.headers)


def _data_error(_: Request[Any, Any, Any], exc: psycopg.errors.DataError) -> Response[ErrorBody]:
    return error_response(400, "invalid_request", f"a value is out of range or malformed: {exc.diag.message_primary}")


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    logger.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: _api_error,
    JobConfigError: _field_error,
    EngineValidationError: _field_error,
    PendingLimitExceededError: _pending_limit,
    ValidationException: _validation,
    HTTPException: _http,
    psycopg.errors.DataError: _data_error,
    Exception: _unexpected,
}
