"""JSON request bodies: refused with a 4xx naming the body when they are not JSON the API can take.

Litestar decodes a handler's ``data`` through ``Request.json()``; ``ApiRequest``
makes that decode total: bytes that are not UTF-8, JSON nested deeper than any
request needs, and malformed JSON each answer 400 with ``field: body`` instead
of escaping as a server error. ``require_json`` (a ``before_request`` hook of the
handlers that take JSON) refuses a body that is missing or declared as something
other than JSON (415) before anything reads it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from backtest_api.core.errors import InvalidRequestError
from backtest_api.core.errors import UnsupportedMediaTypeError

#: Deepest nesting of arrays and objects a request body may have. A strategy is
#: about five levels deep; deep structures would otherwise overflow the stack of
#: whatever walks them later (copying, hashing, validation).
MAX_JSON_DEPTH = 32

_UNSET: Any = object()


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


NOT_UTF8 = "not valid UTF-8 text (JSON must be UTF-8)"


def decode_json_body(body: bytes) -> Any:
    """The body's JSON value, or ``InvalidRequestError`` on field ``body`` saying what is wrong with it."""
    try:
        value = msgspec.json.decode(body)
    except UnicodeDecodeError:
        raise InvalidRequestError("body", NOT_UTF8) from None
    except RecursionError:
        raise InvalidRequestError("body", f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    except msgspec.DecodeError as exc:
        # msgspec reports bytes that are not UTF-8 as a DecodeError of its own (since 0.23).
        reason = NOT_UTF8 if "utf-8" in str(exc).lower() else f"malformed JSON: {exc}"
        raise InvalidRequestError("body", reason) from None
    if json_depth_exceeds(value, MAX_JSON_DEPTH):
        raise InvalidRequestError("body", f"nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def is_json_media_type(content_type: str | None) -> bool:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


class ApiRequest(Request[Any, Any, Any]):
    """A request whose JSON decode refuses bad bodies with a 400 (see the module docstring)."""

    _decoded: Any = _UNSET

    async def json(self) -> Any:
        if self._decoded is _UNSET:
            self._decoded = decode_json_body(await self.body() or b"null")
        return self._decoded


async def require_json(request: Request[Any, Any, Any]) -> None:
    """``before_request`` of handlers that take a JSON body: 415 unless declared JSON, 400 if empty or bad."""
    content_type = request.headers.get("content-type")
    if not is_json_media_type(content_type):
        declared = f"'{content_type}'" if content_type else "no Content-Type"
        raise UnsupportedMediaTypeError(f"this endpoint takes application/json; the request declared {declared}")
    if not (await request.body()).strip():
        raise InvalidRequestError("body", "the request has no body; send a JSON object")
    await request.json()
