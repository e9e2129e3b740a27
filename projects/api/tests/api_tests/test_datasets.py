from __future__ import annotations

import pytest

from api_tests.helpers import backtest_request
from api_tests.helpers import csv_bytes
from api_tests.helpers import upload_dataset
from backtest_api.datasets import services as dataset_services
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.engine import to_parquet_bytes


async def _upload(client, caller, body: bytes, **params):
    return await client.post(
        "/api/v1/datasets",
        params={"name": "upload", **params},
        content=body,
        headers={**caller.headers, "Content-Type": "application/octet-stream"},
    )


async def test_a_csv_upload_is_stored_with_its_metadata(client, alice):
    response = await _upload(client, alice, csv_bytes(synthetic_ohlcv(120, seed=3)))

    assert response.status_code == 201
    body = response.json()
    assert body["n_bars"] == 120
    assert response.headers["location"] == f"/api/v1/datasets/{body['id']}"


async def test_a_parquet_upload_is_recognised_by_its_magic_bytes(client, alice):
    response = await _upload(client, alice, to_parquet_bytes(synthetic_ohlcv(80, seed=4)))

    assert response.status_code == 201
    assert response.json()["n_bars"] == 80


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "data"),
        (b"timestamp,open,high,low,close\n1,1,1,1,1\n", "data"),
        (b"timestamp,open,high,low,close,volume\n1,1,2,0.5,abc,1\n", "data.close[0]"),
        (b"timestamp,open,high,low,close,volume\n1,1,0.5,0.9,1,1\n", "data.high[0]"),
    ],
)
async def test_a_bad_file_answers_400_naming_what_is_wrong(client, alice, body, field):
    response = await _upload(client, alice, body)

    assert response.status_code == 400
    assert response.json()["field"].startswith(field)
    assert response.json()["reason"]


async def test_garbage_declared_as_parquet_answers_400(client, alice):
    response = await _upload(client, alice, b"not parquet at all", format="parquet")

    assert response.status_code == 400
    assert response.json()["field"].startswith("data")


async def test_the_declared_format_is_honoured_over_detection(client, alice):
    """Regression: the ``format`` query parameter must reach the handler (its argument is ``file_format``)."""
    body = csv_bytes(synthetic_ohlcv(50, seed=5))

    declared_csv = await _upload(client, alice, body, format="csv")
    declared_parquet = await _upload(client, alice, body, format="parquet")

    assert declared_csv.status_code == 201
    assert declared_parquet.status_code == 400
    assert declared_parquet.json()["field"].startswith("data")


async def test_a_file_over_the_size_limit_answers_413(database_url, alice):
    from litestar.testing import AsyncTestClient

    from backtest_api.app import create_app
    from backtest_api.settings import Settings

    settings = Settings(database_url=database_url, max_dataset_bytes=1000)
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await _upload(client, alice, csv_bytes(synthetic_ohlcv(200, seed=3)))

    assert response.status_code == 413


async def test_datasets_are_listed_and_read_only_by_their_owner(client, alice, bob):
    dataset_id = await upload_dataset(client, alice.headers)

    assert [d["id"] for d in (await client.get("/api/v1/datasets", headers=alice.headers)).json()["items"]] == [
        dataset_id
    ]
    assert (await client.get("/api/v1/datasets", headers=bob.headers)).json()["items"] == []
    assert (await client.get(f"/api/v1/datasets/{dataset_id}", headers=alice.headers)).status_code == 200
    assert (await client.get(f"/api/v1/datasets/{dataset_id}", headers=bob.headers)).status_code == 404


async def test_an_unused_dataset_can_be_deleted(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)

    assert (await client.delete(f"/api/v1/datasets/{dataset_id}", headers=alice.headers)).status_code == 204
    assert (await client.get(f"/api/v1/datasets/{dataset_id}", headers=alice.headers)).status_code == 404


async def test_a_dataset_in_use_cannot_be_deleted(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)

    response = await client.delete(f"/api/v1/datasets/{dataset_id}", headers=alice.headers)

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


async def test_another_users_dataset_cannot_be_deleted(client, alice, bob):
    dataset_id = await upload_dataset(client, alice.headers)

    assert (await client.delete(f"/api/v1/datasets/{dataset_id}", headers=bob.headers)).status_code == 404


async def test_the_dataset_cache_stays_bounded_and_submits_still_find_evicted_datasets(client, alice, monkeypatch):
    monkeypatch.setattr(dataset_services, "MAX_CACHED_DATASETS", 2)
    first, second, third = [await upload_dataset(client, alice.headers, seed=seed) for seed in (1, 2, 3)]

    submitted = [
        await client.post("/api/v1/backtests", json=backtest_request(dataset), headers=alice.headers)
        for dataset in (first, second, third)
    ]

    assert [response.status_code for response in submitted] == [202, 202, 202]
    assert len(client.app.state.services.dataset_cache) <= 2
