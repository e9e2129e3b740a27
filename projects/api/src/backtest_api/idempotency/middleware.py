"""``Idempotency-Key`` on POST: a retried request gets the first answer and creates nothing new.

The first request with a key reserves it, runs, and stores its answer if it succeeded (2xx);
records are kept for ``idempotency_ttl_seconds`` (24 hours by default), then the key is new again;
a failed request (4xx/5xx) created nothing and releases the key, so a corrected retry runs.
The same key with a different request (method, path, query or body) answers 422; while the
first request is still running, a retry answers 409 with ``Retry-After``. JSON bodies are
compared as canonical JSON (keys sorted, no insignificant whitespace), so a retry that
reformats the same JSON is the same request; other bodies are compared byte for byte.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

import msgspec
import psycopg
from litestar.enums import ScopeType
from litestar.openapi.spec import OpenAPIType
from litestar.openapi.spec import Parameter
from litestar.openapi.spec import Schema
from litestar.types import ASGIApp
from litestar.types import Message
from litestar.types import Receive
from litestar.types import Scope
from litestar.types import Send

from backtest_api.core.errors import ConflictError
from backtest_api.core.errors import InvalidRequestError
from backtest_api.core.jsonbody import is_json_media_type
from backtest_api.idempotency import repository

logger = logging.getLogger(__name__)

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 255
#: 1-255 printable ASCII characters, spaces allowed inside only.
KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"
_KEY = re.compile(KEY_PATTERN)

#: How the header is documented on every authenticated POST.
KEY_PARAMETER = Parameter(
    name="Idempotency-Key",
    param_in="header",
    required=False,
    description=(
        "Makes the POST safe to retry: the same key with the same request (JSON compared as canonical JSON) "
        "answers the first answer again and creates nothing; with a different request, 422"
    ),
    schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_KEY_LENGTH, pattern=KEY_PATTERN),
)
#: Response headers kept with the stored answer.
REPLAYED_HEADERS = ("content-type", "location")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _read_body(receive: Receive, limit: int) -> tuple[list[Any], bytes | None]:
    """All request messages; the body too unless it exceeds ``limit`` (then None)."""
    messages: list[Any] = []
    size = 0
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return messages, b"".join(chunks) if size <= limit else None


def _replay(messages: list[Any], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _canonical_body(scope: Scope, body: bytes) -> bytes:
    """A JSON body re-encoded with sorted keys and no whitespace; any other body as it is."""
    if not is_json_media_type(_header(scope, b"content-type")):
        return body
    try:
        return b"json\0" + msgspec.json.encode(msgspec.json.decode(body), order="sorted")
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # not JSON: the handler will refuse it
        return body


def _request_hash(scope: Any, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(scope["method"].encode())
    digest.update(b"\0" + scope["path"].encode() + b"\0" + bytes(scope.get("query_string", b"")) + b"\0")
    digest.update(_canonical_body(scope, body))
    return digest.hexdigest()


def idempotency_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        http: Any = scope
        key = _header(scope, HEADER) if http["type"] == ScopeType.HTTP and http["method"] == "POST" else None
        user: Any = scope.get("user")
        if key is None or user is None:
            await app(scope, receive, send)
            return
        if not _KEY.fullmatch(key):
            raise InvalidRequestError(
                "Idempotency-Key",
                f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, not starting or ending with a space",
            )
        services = scope["app"].state.services
        limit = max(services.settings.max_body_bytes, services.settings.max_dataset_bytes)
        messages, body = await _read_body(receive, limit)
        if body is None:  # too large to be accepted anyway: let the handler refuse it
            await app(scope, _replay(messages, receive), send)
            return
        request_hash = _request_hash(scope, body)
        pool = services.pool
        if not await repository.reserve(pool, user.id, key, request_hash, services.settings.idempotency_ttl_seconds):
            await _answer_from_record(pool, user.id, key, request_hash, send)
            return
        await _run_and_store(app, scope, _replay(messages, receive), send, pool, user.id, key)

    return middleware


async def _answer_from_record(pool: Any, user_id: Any, key: str, request_hash: str, send: Send) -> None:
    stored = await repository.get(pool, user_id, key)
    if stored is None:
        raise ConflictError(
            "a request with this Idempotency-Key was just released; retry", headers={"Retry-After": "1"}
        )
    if stored.request_hash != request_hash:
        raise InvalidRequestError(
            "Idempotency-Key", "already used for a different request (method, path or body)", status_code=422
        )
    if stored.status_code == 0:
        raise ConflictError(
            "a request with this Idempotency-Key is still being processed", headers={"Retry-After": "1"}
        )
    headers = [(name.encode(), value.encode()) for name, value in stored.headers.items()]
    headers.append((b"idempotent-replayed", b"true"))
    headers.append((b"content-length", str(len(stored.body)).encode()))
    await send({"type": "http.response.start", "status": stored.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body, "more_body": False})


async def _run_and_store(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, pool: Any, user_id: Any, key: str
) -> None:
    status = 500
    headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            for name, value in message.get("headers", ()):
                decoded = bytes(name).decode("latin-1").lower()
                if decoded in REPLAYED_HEADERS:
                    headers[decoded] = bytes(value).decode("latin-1")
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
        await send(message)

    succeeded = False
    try:
        await app(scope, receive, capture)
        succeeded = 200 <= status < 300
    finally:
        await _settle(pool, user_id, key, status if succeeded else None, b"".join(chunks), headers)


async def _settle(pool: Any, user_id: Any, key: str, status: int | None, body: bytes, headers: dict[str, str]) -> None:
    """Store a 2xx answer for replay, or release the key; the answer has been sent either way.

    If the database is away now, the reservation stays until it counts as
    abandoned (``repository.ABANDONED_AFTER_SECONDS``; a retry meanwhile
    answers 409): an error here must not replace an answer already sent.
    """
    try:
        if status is None:
            await repository.release(pool, user_id, key)
        else:
            await repository.complete(pool, user_id, key, status, body, headers)
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        logger.warning("could not settle Idempotency-Key record: %s", exc)
