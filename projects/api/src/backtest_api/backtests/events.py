"""Server-sent events framing shared by the backtest and bundle streams.

Each progress update is one complete event (``event: progress`` and one
``data:`` line). Passing ``event_type`` to Litestar's ``ServerSentEvent``
instead also wrote a lone ``event:`` line before the first message, which
clients read as a duplicated (or empty) first event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.response.sse import ServerSentEventMessage

EVENT_TYPE = "progress"


async def progress_messages(payloads: AsyncIterator[bytes]) -> AsyncIterator[ServerSentEventMessage]:
    """One ``progress`` event per JSON payload."""
    async for payload in payloads:
        yield ServerSentEventMessage(data=payload.decode(), event=EVENT_TYPE)
