from __future__ import annotations

from litestar.testing import AsyncTestClient

from api_tests.conftest import make_caller
from api_tests.helpers import backtest_request
from api_tests.helpers import upload_dataset
from backtest_api.app import create_app
from backtest_api.settings import Settings


def _named(dataset_id: str, name: str) -> dict:
    request = backtest_request(dataset_id)
    request["strategy"] = {**request["strategy"], "name": name}
    return request


async def test_over_the_pending_limit_answers_429_with_retry_after(client, database_url):
    carol = make_caller(database_url, "carol", max_pending_jobs=2)
    dataset_id = await upload_dataset(client, carol.headers)
    for name in ("a", "b"):
        response = await client.post("/api/v1/backtests", json=_named(dataset_id, name), headers=carol.headers)
        assert response.status_code == 202

    response = await client.post("/api/v1/backtests", json=_named(dataset_id, "c"), headers=carol.headers)

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["field"] == "pending_jobs"


async def test_over_the_request_rate_answers_429_with_retry_after(database_url, alice):
    settings = Settings(database_url=database_url, rate_limit_per_second=1.0, rate_limit_burst=3)
    async with AsyncTestClient(app=create_app(settings)) as client:
        statuses = [(await client.get("/api/v1/me", headers=alice.headers)) for _ in range(5)]

    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    assert statuses[4].status_code == 429
    assert statuses[4].headers["retry-after"] == "1"


async def test_a_bundle_over_the_size_limit_answers_429_naming_the_limit(database_url, alice):
    settings = Settings(database_url=database_url, max_bundle_size=10)
    async with AsyncTestClient(app=create_app(settings)) as client:
        dataset_id = await upload_dataset(client, alice.headers)
        response = await client.post(
            "/api/v1/bundles",
            json={
                "dataset_id": dataset_id,
                "base": backtest_request(dataset_id)["strategy"],
                "grid": {"indicators.fast.period": list(range(2, 8)), "indicators.slow.period": [30, 40]},
            },
            headers=alice.headers,
        )

    assert response.status_code == 429
    assert "retry-after" in response.headers
    assert "limit is 10" in response.json()["message"]
