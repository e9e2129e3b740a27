"""The synchronous client: ``Client(url, key)`` and the handles of submitted work.

    client = Client("http://127.0.0.1:8000", "bt_...")
    data = client.upload(df, name="btc-1h")
    run = client.run(strategy, data).wait()
    run.equity.plot()
    sweep = client.sweep(strategy, data, grid={"fast.period": range(5, 55, 5)}, where="fast.period < slow.period")
    sweep.wait().results()      # ranked DataFrame
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

import httpx
import pandas as pd

from backtest_client import calls
from backtest_client.chart import Chart
from backtest_client.chart import heatmap
from backtest_client.errors import ApiError
from backtest_client.errors import BacktestFailedError
from backtest_client.errors import NotFoundError
from backtest_client.grid import GridLike
from backtest_client.models import Dataset
from backtest_client.progress import FINAL_EVENT_STATUSES
from backtest_client.progress import ProgressBar
from backtest_client.results import Result
from backtest_client.results import ranked_frame
from backtest_client.strategy import StrategyLike
from backtest_client.transport import RetryPolicy
from backtest_client.transport import base_url
from backtest_client.transport import headers_for
from backtest_client.transport import send

POLL_WAIT_SECONDS = 20.0


class Client:
    """A user's connection to the API (a thin layer over ``httpx.Client``); use it as a context manager."""

    def __init__(
        self,
        url: str,
        key: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = base_url(url)
        self.retry = retry or RetryPolicy()
        self.http = httpx.Client(base_url=self.url, headers=headers_for(key), timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any API call, with retries and typed errors (``path`` starts with ``/api/v1``)."""
        return send(self.http, self.retry, method, path, **kwargs)

    def _json(self, call: calls.Call) -> Any:
        method, path, kwargs = call
        return self.request(method, path, **kwargs).json()

    # datasets
    def upload(self, data: calls.DataLike, name: str | None = None) -> Dataset:
        """Upload OHLCV bars from a DataFrame, a CSV/Parquet file path, or bytes."""
        method, path, kwargs = calls.upload(data, name)
        response = self.request(method, path, **kwargs)
        return Dataset.from_json(response.json(), existing=response.status_code == 200)

    def datasets(self, limit: int = 100) -> list[Dataset]:
        body = self._json(("GET", calls.DATASETS, {"params": {"limit": limit}}))
        return [Dataset.from_json(item) for item in body["items"]]

    def delete_dataset(self, dataset_id: str) -> None:
        self.request("DELETE", f"{calls.DATASETS}/{dataset_id}")

    # backtests
    def run(self, strategy: StrategyLike, data: str | Dataset, **options: Any) -> BacktestRun:
        """Submit one backtest (``priority``, ``max_attempts``, ``timeout_seconds``, ``reuse`` as options)."""
        body = self._json(calls.submit_backtest(strategy, str(data), **options))
        return BacktestRun(self, str(body["id"]), body)

    def backtest(self, backtest_id: str) -> BacktestRun:
        return BacktestRun(self, backtest_id, self._json(calls.get_backtest(backtest_id)))

    def backtests(self, limit: int = 50, **filters: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._json(("GET", calls.BACKTESTS, {"params": {"limit": limit, **filters}}))[
            "items"
        ]
        return items

    # sweeps
    def sweep(
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
    ) -> SweepRun:
        """Submit a bundle: ``base`` plus a ``grid`` filtered by ``where``, or a list of ``strategies``."""
        call = calls.submit_sweep(
            base, str(data), grid=grid, where=where, strategies=strategies, rank_by=rank_by, name=name, **options
        )
        body = self._json(call)
        return SweepRun(self, str(body["id"]), body)

    def bundle(self, bundle_id: str) -> SweepRun:
        return SweepRun(self, bundle_id, self._json(calls.get_bundle(bundle_id, top=0)))

    def bundles(self, limit: int = 50) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._json(("GET", calls.BUNDLES, {"params": {"limit": limit}}))["items"]
        return items

    # waiting
    def follow(self, kind: str, identifier: str, bar: ProgressBar, timeout: float | None) -> dict[str, Any]:
        """Until final: SSE progress if the server streams it, else long-polling; returns the final state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with self.http.stream("GET", calls.events_path(kind, identifier), timeout=timeout) as stream:
                if stream.status_code == 200:
                    for event in calls.sse_events(stream.iter_lines()):
                        bar.update(str(event.get("status")), float(event.get("progress") or 0.0))
                        if event.get("status") in FINAL_EVENT_STATUSES:
                            break
        except (httpx.TransportError, ValueError):
            pass  # the stream broke: polling below finishes the job
        while True:
            remaining = POLL_WAIT_SECONDS if deadline is None else min(POLL_WAIT_SECONDS, deadline - time.monotonic())
            state: dict[str, Any] = self._json(calls.get_state(kind, identifier, max(remaining, 0.0)))
            bar.update(str(state["status"]), float(state.get("progress") or 0.0))
            if calls.is_final(kind, state):
                return state
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{kind} {identifier} is still {state['status']} after {timeout} s")


class BacktestRun:
    """A submitted backtest: ``wait()``, then ``metrics``, ``equity``, ``drawdown``, ``trades``, ``chart()``."""

    def __init__(self, client: Client, backtest_id: str, state: dict[str, Any]) -> None:
        self.client = client
        self.id = backtest_id
        self.state = state

    def __repr__(self) -> str:
        return f"<BacktestRun {self.id} {self.status}>"

    @property
    def status(self) -> str:
        return str(self.state.get("status"))

    def refresh(self) -> BacktestRun:
        self.state = self.client._json(calls.get_backtest(self.id))
        return self

    def wait(self, *, progress: bool = True, timeout: float | None = None) -> BacktestRun:
        """Block until the backtest is final, showing a progress bar (``progress=False`` for none)."""
        if self.status not in calls.FINAL_BACKTEST or "result" not in self.state:
            with ProgressBar(f"backtest {self.id[:8]}", enabled=progress) as bar:
                self.client.follow("backtest", self.id, bar, timeout)
            self.refresh()
        return self

    def result(self) -> Result:
        """The result (waits without a bar if needed); ``BacktestFailedError`` if it failed or was cancelled."""
        if self.state.get("result") is None:
            self.wait(progress=False)
        if self.state.get("result") is None:
            raise BacktestFailedError(self.id, self.status, self.state.get("error"))
        return Result(self.id, self.state["result"], self.state.get("config", {}).get("strategy", {}))

    @property
    def metrics(self) -> pd.Series:
        return self.result().metrics

    @property
    def equity(self) -> pd.Series:
        return self.result().equity

    @property
    def drawdown(self) -> pd.Series:
        return self.result().drawdown

    @property
    def trades(self) -> pd.DataFrame:
        return self.result().trades

    def chart(self, title: str | None = None) -> Chart:
        return self.result().chart(title)  # type: ignore[no-any-return]

    def cancel(self) -> BacktestRun:
        self.state = self.client._json(("POST", f"{calls.BACKTESTS}/{self.id}/cancel", {}))
        return self


class SweepRun:
    """A submitted bundle: ``wait()``, then ``results()`` as a ranked DataFrame, ``heatmap()``, ``cancel()``."""

    def __init__(self, client: Client, bundle_id: str, state: dict[str, Any]) -> None:
        self.client = client
        self.id = bundle_id
        self.state = state
        self.total_jobs = int(state.get("total_jobs") or 0)

    def __repr__(self) -> str:
        return f"<SweepRun {self.id} {self.status} {self.total_jobs} jobs>"

    @property
    def status(self) -> str:
        return str(self.state.get("status"))

    def refresh(self, *, top: int = 0, rank_by: str | None = None) -> SweepRun:
        self.state = self.client._json(calls.get_bundle(self.id, top=top, rank_by=rank_by))
        return self

    def wait(self, *, progress: bool = True, timeout: float | None = None) -> SweepRun:
        """Block until every backtest of the sweep is final, with a progress bar over its jobs."""
        if not self.state.get("finished"):
            with ProgressBar(f"sweep {self.id[:8]}", units=self.total_jobs, enabled=progress) as bar:
                self.client.follow("bundle", self.id, bar, timeout)
            self.refresh()
        return self

    def results(self, top: int | None = None, rank_by: str | None = None) -> pd.DataFrame:
        """Ranked results so far, best first: one column per parameter and metric (all of them by default)."""
        wanted = top if top is not None else max(self.total_jobs, 1)
        body = self.client._json(calls.get_bundle(self.id, top=min(wanted, 10_000), rank_by=rank_by))
        self.state = body
        return ranked_frame(body["results"])

    def best(self, rank_by: str | None = None) -> pd.Series:
        frame = self.results(top=1, rank_by=rank_by)
        if frame.empty:
            raise NotFoundError(404, f"bundle {self.id} has no succeeded backtest yet")
        return frame.iloc[0]

    def heatmap(self, x: str, y: str, metric: str | None = None) -> Chart:
        metric = metric or str(self.state.get("rank_by") or "sharpe")
        return heatmap(self.results(), x, y, metric, title=f"sweep {self.id}: {metric}")

    def cancel(self) -> dict[str, int]:
        answer: dict[str, int] = self.client._json(("POST", f"{calls.BUNDLES}/{self.id}/cancel", {}))
        self.refresh()
        return answer


__all__ = ["ApiError", "BacktestRun", "Client", "SweepRun"]
