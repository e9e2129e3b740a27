"""What each API call sends, built once for the sync and the async client.

Each builder returns ``(method, path, httpx keyword arguments)``; the clients
only send them. Keeping the wire details here means the two clients cannot
drift apart.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from typing import TypeAlias

import pandas as pd

from backtest_client.grid import GridLike
from backtest_client.grid import normalise
from backtest_client.strategy import StrategyLike
from backtest_client.strategy import strategy_dict

Call = tuple[str, str, dict[str, Any]]
BACKTESTS = "/api/v1/backtests"
BUNDLES = "/api/v1/bundles"
DATASETS = "/api/v1/datasets"
FINAL_BACKTEST = frozenset({"succeeded", "failed", "cancelled"})
DataLike: TypeAlias = "pd.DataFrame | str | Path | bytes"


def frame_csv(frame: pd.DataFrame) -> bytes:
    """OHLCV CSV of a DataFrame; a DatetimeIndex (as ``df.set_index('timestamp')`` gives) becomes the timestamp."""
    out = frame
    if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name in ("timestamp", "time", "date", "datetime"):
        out = frame.reset_index()
        out = out.rename(columns={out.columns[0]: "timestamp"})
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            values = out[column]
            if values.dt.tz is None:
                values = values.dt.tz_localize("UTC")
            out = out.assign(**{str(column): values.dt.strftime("%Y-%m-%dT%H:%M:%SZ")})
    buffer = io.StringIO()
    out.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def upload(data: DataLike, name: str | None) -> Call:
    """A dataset upload as the raw body (CSV, or Parquet for ``.parquet`` files)."""
    content_type = "text/csv"
    if isinstance(data, pd.DataFrame):
        body, default_name = frame_csv(data), "dataframe"
    elif isinstance(data, bytes):
        body, default_name = data, "upload"
        if body[:4] == b"PAR1":
            content_type = "application/vnd.apache.parquet"
    else:
        path = Path(data)
        body, default_name = path.read_bytes(), path.name
        if path.suffix.lower() in (".parquet", ".pq"):
            content_type = "application/vnd.apache.parquet"
    params = {"name": name or default_name}
    return "POST", DATASETS, {"content": body, "params": params, "headers": {"Content-Type": content_type}}


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if value is not None}


def submit_backtest(strategy: StrategyLike, dataset_id: str, **options: Any) -> Call:
    body = {"dataset_id": str(dataset_id), "strategy": strategy_dict(strategy), **_options(options)}
    return "POST", BACKTESTS, {"json": body}


def submit_sweep(
    base: StrategyLike | None,
    dataset_id: str,
    *,
    grid: GridLike | None = None,
    where: str | Sequence[str] | None = None,
    strategies: Iterable[StrategyLike] | None = None,
    **options: Any,
) -> Call:
    """A bundle: ``base`` plus a ``grid`` (short keys such as ``fast.period`` allowed), or a list of strategies."""
    body: dict[str, Any] = {"dataset_id": str(dataset_id), **_options(options)}
    if strategies is not None:
        body["strategies"] = [strategy_dict(s) for s in strategies]
    if base is not None:
        spec = strategy_dict(base)
        body["base"] = spec
        body["grid"] = normalise(spec, grid or {})
    if where is not None:
        texts = [where] if isinstance(where, str) else list(where)
        body["where"] = texts[0] if len(texts) == 1 else texts  # one constraint: errors name ``where``
    return "POST", BUNDLES, {"json": body}


def get_backtest(backtest_id: str, wait: float = 0.0) -> Call:
    params = {"wait": wait} if wait else {}
    return "GET", f"{BACKTESTS}/{backtest_id}", {"params": params}


def get_bundle(bundle_id: str, *, wait: float = 0.0, top: int | None = None, rank_by: str | None = None) -> Call:
    params: dict[str, Any] = {"wait": wait} if wait else {}
    if top is not None:
        params["top"] = top
    if rank_by is not None:
        params["rank_by"] = rank_by
    return "GET", f"{BUNDLES}/{bundle_id}", {"params": params}


def get_state(kind: str, identifier: str, wait: float) -> Call:
    """A long-poll of a backtest's or a bundle's state (a bundle without its ranking)."""
    return get_backtest(identifier, wait) if kind == "backtest" else get_bundle(identifier, wait=wait, top=0)


def events_path(kind: str, identifier: str) -> str:
    return f"{BACKTESTS if kind == 'backtest' else BUNDLES}/{identifier}/events"


def is_final(kind: str, state: Mapping[str, Any]) -> bool:
    if kind == "bundle":
        return bool(state.get("finished"))
    return state.get("status") in FINAL_BACKTEST


def sse_events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """JSON payloads of a server-sent event stream (``data:`` lines up to a blank line)."""
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield json.loads("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield json.loads("\n".join(data))
