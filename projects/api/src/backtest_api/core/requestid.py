"""One id per request: taken from the client's ``X-Request-ID`` when it is sane, else made here.

The id is answered in the ``X-Request-ID`` header of every response, in the body
of every problem, and in every log line written while the request is handled,
so a client's report and the server's log meet on one string.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Iterable
from typing import Any

HEADER = b"x-request-id"
#: A client's id is kept when it is 1-128 characters of letters, digits and ``._:-``;
#: anything else (spaces, control characters, a novel) is replaced, never echoed.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_STATE_KEY = "request_id"

current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def choose(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's id if it sent a sane one, else a new random one."""
    for name, value in headers:
        if name == HEADER:
            text = bytes(value).decode("latin-1")
            if _SANE.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def remember(scope: Any, request_id: str) -> None:
    """Keep the id in the request's state, where error handlers and handlers find it."""
    scope.setdefault("state", {})[_STATE_KEY] = request_id


def of(scope: Any) -> str | None:
    state = scope.get("state")
    value = state.get(_STATE_KEY) if isinstance(state, dict) else None
    return value if isinstance(value, str) else None


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` to every record (``-`` outside a request), for ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get()
        return True
