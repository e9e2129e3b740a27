"""Uploading, reading and deleting datasets; resolving the dataset a job names."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import anyio.to_thread
import msgspec

from backtest_api.core.errors import ConflictError
from backtest_api.core.errors import InvalidRequestError
from backtest_api.core.errors import NotFoundError
from backtest_api.core.principal import Principal
from backtest_api.core.state import Services
from backtest_api.datasets import repository
from backtest_api.datasets import uploads
from backtest_api.datasets.schemas import Dataset
from backtest_shared.datasets.store import insert_dataset
from backtest_shared.engine import OHLCV
from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import load_csv
from backtest_shared.engine import load_parquet
from backtest_shared.engine import ohlcv_content_hash

#: Datasets whose content hash and bar count an API process keeps in memory, per caller
#: who may use them; datasets never change, so entries never go stale, but the number
#: of datasets has no bound.
MAX_CACHED_DATASETS = 100_000

PARQUET_MAGIC = b"PAR1"
_FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet"}


@dataclass(frozen=True)
class JobDataset:
    """What a submit needs to know of its dataset."""

    content_hash: str
    n_bars: int


def detect_format(body: bytes, declared: str | None, content_type: str | None) -> str:
    if declared:
        return declared
    if body[:4] == PARQUET_MAGIC:
        return "parquet"
    if content_type and "parquet" in content_type:
        return "parquet"
    return "csv"


def _unreadable(file_format: str) -> str:
    return f"not a readable {_FORMAT_NAMES[file_format]} file (truncated, damaged or another format)"


def parse_ohlcv(body: bytes, file_format: str) -> OHLCV:
    """Decode and validate an upload with the engine's rules (field ``data.<column>[<row>]`` on error).

    The loaders word their errors for users (rows, lines, columns); a CSV row's
    error also gets its file line.
    """
    if not body:
        raise InvalidRequestError("data", f"the file is empty: send the {_FORMAT_NAMES[file_format]} file's bytes")
    loader = load_parquet if file_format == "parquet" else load_csv
    try:
        return loader(body)
    except EngineValidationError as exc:
        if file_format == "csv":
            raise uploads.with_line(exc, body) from None
        raise
    except Exception:  # a file pandas/pyarrow cannot read at all; their messages speak of their internals
        raise InvalidRequestError("data", _unreadable(file_format)) from None


async def upload(services: Services, user: Principal, name: str, body: bytes, file_format: str) -> Dataset:
    data = await anyio.to_thread.run_sync(parse_ohlcv, body, file_format)
    identical = await uploads.identical_dataset(services.pool, user.id, ohlcv_content_hash(data))
    if identical is not None:
        existing = await get(services, user, identical)
        return msgspec.structs.replace(existing, existing=True)
    stored = await insert_dataset(services.pool, user.id, name, data)
    _remember(services, (user.id, stored.id), JobDataset(stored.content_hash, stored.n_bars))
    return Dataset(
        id=stored.id,
        name=stored.name,
        content_hash=stored.content_hash,
        n_bars=stored.n_bars,
        first_timestamp=stored.first_timestamp,
        last_timestamp=stored.last_timestamp,
        size_bytes=stored.size_bytes,
        created_at=stored.created_at,
    )


async def list_datasets(services: Services, user: Principal, limit: int) -> list[Dataset]:
    """The caller's datasets (everyone's for an admin), newest first."""
    return await repository.list_datasets(services.pool, user.owner_filter(), limit)


async def get(services: Services, user: Principal, dataset_id: uuid.UUID) -> Dataset:
    dataset = await repository.get_dataset(services.pool, dataset_id, user.owner_filter())
    if dataset is None:
        raise NotFoundError("dataset", dataset_id)
    return dataset


async def delete(services: Services, user: Principal, dataset_id: uuid.UUID) -> None:
    await get(services, user, dataset_id)
    if not await repository.delete_dataset(services.pool, dataset_id, user.owner_filter()):
        raise ConflictError(f"dataset {dataset_id} is used by backtests and cannot be deleted")
    forget(services, dataset_id)


def forget(services: Services, dataset_id: uuid.UUID) -> None:
    """Drop a deleted dataset from the cache, for every caller (rare: a scan is fine)."""
    for key in [key for key in services.dataset_cache if key[1] == dataset_id]:
        del services.dataset_cache[key]


def _remember(services: Services, key: tuple[uuid.UUID, uuid.UUID], dataset: JobDataset) -> None:
    """Cache a dataset for one caller; a full cache starts over (cheaper than LRU bookkeeping per submit)."""
    if len(services.dataset_cache) >= MAX_CACHED_DATASETS:
        services.dataset_cache.clear()
    services.dataset_cache[key] = dataset


async def dataset_for_job(services: Services, user: Principal, dataset_id: uuid.UUID) -> JobDataset:
    """A dataset the caller may run jobs on (their own; any, for admins), else 404.

    The cache holds only datasets this caller was already allowed to use: another
    user's id misses it and costs the same scoped lookup as an id that does not
    exist, so the answer's timing does not tell the two apart.
    """
    key = (user.id, dataset_id)
    dataset = services.dataset_cache.get(key)
    if dataset is None:
        found = await repository.dataset_for_job(services.pool, dataset_id, user.owner_filter())
        if found is None:
            raise NotFoundError("dataset", dataset_id, field="dataset_id")
        dataset = JobDataset(*found)
        _remember(services, key, dataset)
    return dataset


async def content_hash_for_job(services: Services, user: Principal, dataset_id: uuid.UUID) -> str:
    """The content hash of a dataset the caller may run jobs on (see ``dataset_for_job``)."""
    return (await dataset_for_job(services, user, dataset_id)).content_hash
