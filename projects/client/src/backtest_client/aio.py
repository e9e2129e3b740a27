"""The asynchronous client: ``AsyncClient(url, key)``, the same calls as ``Client`` awaited.

For notebooks and services that already run an event loop, or that submit
many sweeps at once (``asyncio.gather`` over ``run(...).wait()``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

import httpx
import pandas as pd

from backtest_client import calls
from backtest_client.errors import BacktestFailedError
from backtest_client.grid import GridLike
from backtest_client.models import Dataset
from backtest_client.progress import FINAL_EVENT_STATUSES
from backtest_client.progress import ProgressBar
from backtest_client.results import Result
from backtest_client.results import ranked_frame
from backtest_client.strategy import StrategyLike
from backtest_client.transport import RetryPolicy
from backtest_client.transport import asend
from backtest_client.transport import base_url
from backtest_client.transport import headers_for

POLL_WAIT_SECONDS = 20.0


class AsyncClient:
    """``async with AsyncClient(url, key) as client: ...``"""

    def __init__(
        self,
        url: str,
        key: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = base_url(url)
        self.retry = retry or RetryPolicy()
        self.http = httpx.AsyncClient(base_url=self.url, headers=headers_for(key), timeout=timeout, transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await asend(self.http, self.retry, method, path, **kwargs)

    async def _json(self, call: calls.Call) -> Any:
        method, path, kwargs = call
        return (await self.request(method, path, **kwargs)).json()

    async def upload(self, data: calls.DataLike, name: str | None = None) -> Dataset:
        method, path, kwargs = calls.upload(data, name)
        response = await self.request(method, path, **kwargs)
        return Dataset.from_json(response.json(), existing=response.status_code == 200)

    async def datasets(self, limit: int = 100) -> list[Dataset]:
        body = await self._json(("GET", calls.DATASETS, {"params": {"limit": limit}}))
        return [Dataset.from_json(item) for item in body["items"]]

    async def run(self, strategy: StrategyLike, data: str | Dataset, **options: Any) -> AsyncBacktestRun:
        body = await self._json(calls.submit_backtest(strategy, str(data), **options))
        return AsyncBacktestRun(self, str(body["id"]), body)

    async def backtest(self, backtest_id: str) -> AsyncBacktestRun:
        return AsyncBacktestRun(self, backtest_id, await self._json(calls.get_backtest(backtest_id)))

    async def sweep(
        self,
        base: StrategyLike | None,
        data: str | Dataset,
        *,
        grid: GridLike | None = None,
        where: str | Sequence[str] | None = None,
        strategies: Iterable[StrategyLike] | None = None,
        rank_by: str | None = None,
        name: str | None = None,
        **options: Any,
    ) -> AsyncSweepRun:
        call = calls.submit_sweep(
            base, str(data), grid=grid, where=where, strategies=strategies, rank_by=rank_by, name=name, **options
        )
        body = await self._json(call)
        return AsyncSweepRun(self, str(body["id"]), body)

    async def bundle(self, bundle_id: str) -> AsyncSweepRun:
        return AsyncSweepRun(self, bundle_id, await self._json(calls.get_bundle(bundle_id, top=0)))

    async def follow(self, kind: str, identifier: str, bar: ProgressBar, timeout: float | None) -> dict[str, Any]:
        """SSE progress until final (polling if the stream is unavailable); the final state."""
        async with asyncio.timeout(timeout):
            try:
                async with self.http.stream("GET", calls.events_path(kind, identifier), timeout=None) as stream:
                    if stream.status_code == 200:
                        async for event in _aiter_events(stream):
                            bar.update(str(event.get("status")), float(event.get("progress") or 0.0))
                            if event.get("status") in FINAL_EVENT_STATUSES:
                                break
            except (httpx.TransportError, ValueError):
                pass
            while True:
                state: dict[str, Any] = await self._json(calls.get_state(kind, identifier, POLL_WAIT_SECONDS))
                bar.update(str(state["status"]), float(state.get("progress") or 0.0))
                if calls.is_final(kind, state):
                    return state


async def _aiter_events(stream: httpx.Response) -> Any:
    lines: list[str] = []
    async for line in stream.aiter_lines():
        lines.append(line)
        if line == "":
            for event in calls.sse_events(lines):
                yield event
            lines = []


class AsyncBacktestRun:
    """A submitted backtest; ``await run.wait()`` then ``await run.result()``."""

    def __init__(self, client: AsyncClient, backtest_id: str, state: dict[str, Any]) -> None:
        self.client = client
        self.id = backtest_id
        self.state = state

    @property
    def status(self) -> str:
        return str(self.state.get("status"))

    async def refresh(self) -> AsyncBacktestRun:
        self.state = await self.client._json(calls.get_backtest(self.id))
        return self

    async def wait(self, *, progress: bool = True, timeout: float | None = None) -> AsyncBacktestRun:
        if self.status not in calls.FINAL_BACKTEST or "result" not in self.state:
            with ProgressBar(f"backtest {self.id[:8]}", enabled=progress) as bar:
                await self.client.follow("backtest", self.id, bar, timeout)
            await self.refresh()
        return self

    async def result(self) -> Result:
        if self.state.get("result") is None:
            await self.wait(progress=False)
        if self.state.get("result") is None:
            raise BacktestFailedError(self.id, self.status, self.state.get("error"))
        return Result(self.id, self.state["result"], self.state.get("config", {}).get("strategy", {}))

    async def cancel(self) -> AsyncBacktestRun:
        self.state = await self.client._json(("POST", f"{calls.BACKTESTS}/{self.id}/cancel", {}))
        return self


class AsyncSweepRun:
    """A submitted bundle; ``await sweep.wait()`` then ``await sweep.results()``."""

    def __init__(self, client: AsyncClient, bundle_id: str, state: dict[str, Any]) -> None:
        self.client = client
        self.id = bundle_id
        self.state = state
        self.total_jobs = int(state.get("total_jobs") or 0)

    @property
    def status(self) -> str:
        return str(self.state.get("status"))

    async def refresh(self) -> AsyncSweepRun:
        self.state = await self.client._json(calls.get_bundle(self.id, top=0))
        return self

    async def wait(self, *, progress: bool = True, timeout: float | None = None) -> AsyncSweepRun:
        if not self.state.get("finished"):
            with ProgressBar(f"sweep {self.id[:8]}", units=self.total_jobs, enabled=progress) as bar:
                await self.client.follow("bundle", self.id, bar, timeout)
            await self.refresh()
        return self

    async def results(self, top: int | None = None, rank_by: str | None = None) -> pd.DataFrame:
        wanted = top if top is not None else max(self.total_jobs, 1)
        body = await self.client._json(calls.get_bundle(self.id, top=min(wanted, 10_000), rank_by=rank_by))
        self.state = body
        return ranked_frame(body["results"])

    async def cancel(self) -> dict[str, int]:
        answer: dict[str, int] = await self.client._json(("POST", f"{calls.BUNDLES}/{self.id}/cancel", {}))
        await self.refresh()
        return answer
