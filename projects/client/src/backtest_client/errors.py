"""Typed exceptions for the API's error answers.

A caller catches ``InvalidRequestError`` and reads ``.field`` to know which
input to fix, instead of parsing JSON out of an HTTP error. Both error shapes
the API may send are understood: ``{status, code, message, field, reason}``
and RFC 9457 problem details (``{type, title, status, detail, ...}``).
"""

from __future__ import annotations

from typing import Any

import httpx


class BacktestClientError(Exception):
    """Base of everything this package raises."""


class ApiError(BacktestClientError):
    """The API refused a request; ``field`` names the input to blame when one is."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        self.status = status
        self.message = message
        self.code = code
        self.field = field
        self.reason = reason
        self.retry_after = retry_after
        self.body = body
        super().__init__(f"{status} {message}")


class InvalidRequestError(ApiError):
    """400: a field of the request (or the uploaded file) is wrong."""


class AuthenticationError(ApiError):
    """401: no key, or the key is unknown or revoked."""


class PermissionDeniedError(ApiError):
    """403."""


class NotFoundError(ApiError):
    """404: no such backtest, bundle or dataset (or it is another user's)."""


class ConflictError(ApiError):
    """409: e.g. deleting a dataset in use, or an idempotent request still running."""


class PayloadTooLargeError(ApiError):
    """413: the body or file is over the server's limit."""


class IdempotencyKeyReusedError(ApiError):
    """422: the same Idempotency-Key was sent with a different request."""


class RateLimitError(ApiError):
    """429 still answered after every retry (``retry_after`` says how long to wait)."""


class ServerError(ApiError):
    """5xx still answered after every retry."""


class BacktestFailedError(BacktestClientError):
    """A backtest ended ``failed`` or ``cancelled``, so it has no result."""

    def __init__(self, backtest_id: str, status: str, error: str | None) -> None:
        self.backtest_id = backtest_id
        self.status = status
        self.error = error
        super().__init__(f"backtest {backtest_id} {status}" + (f": {error}" if error else ""))


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: IdempotencyKeyReusedError,
    429: RateLimitError,
}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (only the delta-seconds form is sent by this API)."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _first_field(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """``field``/``reason`` at the top level, or from the first entry of an ``errors`` list."""
    field, reason = body.get("field"), body.get("reason")
    errors = body.get("errors") or body.get("invalid_params")
    if field is None and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        field = first.get("field") or first.get("name") or first.get("pointer")
        reason = reason or first.get("reason") or first.get("detail") or first.get("message")
    return (str(field) if field is not None else None, str(reason) if reason is not None else None)


def error_from_response(response: httpx.Response) -> ApiError:
    """The typed exception for a 4xx/5xx answer."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    message = response.reason_phrase or "error"
    code = field = reason = None
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("detail") or body.get("title") or message)
        raw_code = body.get("code") or body.get("title")
        code = str(raw_code) if raw_code is not None else None
        field, reason = _first_field(body)
    elif response.text:
        message = response.text[:500]
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return kind(
        status,
        message,
        code=code,
        field=field,
        reason=reason,
        retry_after=retry_after_seconds(response),
        body=body,
    )
