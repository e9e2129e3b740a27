"""What a hostile client found, pinned: each test names the wrong answer it rules out."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import pytest
from litestar.testing import AsyncTestClient

from api_tests.conftest import make_caller
from api_tests.helpers import backtest_request
from api_tests.helpers import upload_dataset
from api_tests.tcp_proxy import proxied
from backtest_api.app import create_app
from backtest_api.settings import Settings
from backtest_shared.engine import STRATEGY_A_EXAMPLE

JSON_POSTS = ["/api/v1/backtests", "/api/v1/bundles"]


def _json(headers: dict[str, str], content_type: str = "application/json") -> dict[str, str]:
    return {**headers, "Content-Type": content_type}


@pytest.mark.parametrize("path", JSON_POSTS)
async def test_a_body_that_is_not_utf8_answers_400_naming_the_body_not_500(client, alice, path):
    response = await client.post(path, content=b'{"dataset_id":"\xff\xfe"}', headers=_json(alice.headers))

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "body"
    assert response.json()["detail"] == "body: not valid UTF-8 text (JSON must be UTF-8)"


@pytest.mark.parametrize("path", JSON_POSTS)
async def test_json_nested_a_thousand_levels_deep_answers_400_naming_the_body_not_500(client, alice, path):
    body = b'{"dataset_id":' + b"[" * 1000 + b"]" * 1000 + b"}"

    response = await client.post(path, content=body, headers=_json(alice.headers))

    assert response.status_code == 400, response.text
    assert response.json()["field"] == "body"
    assert "nested" in response.json()["detail"]


async def test_an_unreachable_database_answers_503_with_retry_after_not_500_and_the_api_recovers(database_url, alice):
    with proxied(database_url) as (proxy, url):
        settings = Settings(database_url=url, pool_min_size=1, pool_max_size=2, pool_timeout_seconds=0.5)
        async with AsyncTestClient(app=create_app(settings)) as client:
            dataset_id = await upload_dataset(client, alice.headers)
            proxy.cut()
            answers = [
                await client.get("/api/v1/backtests", headers=alice.headers),
                await client.get(f"/api/v1/backtests/{uuid.uuid4()}", headers=alice.headers),
                await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers),
                await client.get("/api/v1/datasets", headers=alice.headers),
                await client.get("/health/ready"),
            ]
            for response in answers:
                assert response.status_code == 503, response.text
                assert int(response.headers["retry-after"]) >= 1
            assert answers[0].json()["code"] == "unavailable"
            proxy.restore()
            deadline = time.monotonic() + 20
            while (response := await client.get("/api/v1/backtests", headers=alice.headers)).status_code != 200:
                assert response.status_code == 503 and time.monotonic() < deadline, response.text
                await asyncio.sleep(0.2)
            submitted = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)

    assert submitted.status_code == 202, submitted.text


async def test_the_openapi_document_is_not_litestars_default_but_what_the_server_does(client):
    document = (await client.get("/docs/openapi.json")).json()
    operations = {
        op["operationId"]: op for item in document["paths"].values() for op in item.values() if "operationId" in op
    }
    schemas = document["components"]["schemas"]

    submit = operations["submitBacktest"]
    for status in ("400", "401", "404", "409", "413", "415", "422", "429", "503"):
        content = submit["responses"][status]["content"]
        assert content == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert submit["responses"]["503"]["headers"]["Retry-After"]["required"] is True
    assert {"type", "title", "status", "detail", "code"} <= set(schemas["Problem"]["required"])
    for public in ("healthLive", "healthReady"):
        assert operations[public]["security"] == []
    assert "security" not in operations["metrics"] and "403" in operations["metrics"]["responses"]
    assert schemas["StrategySpec"]["additionalProperties"] is False
    assert schemas["BacktestCreate"]["additionalProperties"] is False
    assert "sharpe" in schemas["RankBy"]["enum"]
    assert set(schemas["JobStatus"]["enum"]) == {"pending", "running", "succeeded", "failed", "cancelled"}


async def test_created_before_must_be_a_date_time_as_documented_not_a_number(client, alice):
    response = await client.get("/api/v1/backtests", params={"created_before": "0.5"}, headers=alice.headers)

    assert response.status_code == 400
    assert response.json()["field"] == "created_before"


async def test_metrics_record_a_401_as_401_not_500(client, admin):
    await client.get("/api/v1/me", headers={"Authorization": "Bearer bt_not_a_key"})

    text = (await client.get("/metrics", headers=admin.headers)).text

    assert 'route="/api/v1/me",status="401"' in text.replace('method="GET",', "")
    assert 'route="/api/v1/me",status="500"' not in text.replace('method="GET",', "")


async def test_a_foreign_dataset_id_costs_the_same_database_lookups_as_a_missing_one(client, alice, bob):
    foreign = await upload_dataset(client, bob.headers)  # now in this process's dataset cache
    await client.get("/api/v1/me", headers=alice.headers)  # alice's key is cached too
    pool = client.app.state.services.pool
    checkouts = 0
    original = pool.connection

    @contextlib.asynccontextmanager
    async def counted(*args, **kwargs):
        nonlocal checkouts
        checkouts += 1
        async with original(*args, **kwargs) as conn:
            yield conn

    pool.connection = counted
    try:
        costs, answers = [], []
        for dataset_id in (foreign, str(uuid.uuid4())):
            checkouts = 0
            response = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)
            costs.append(checkouts)
            answers.append((response.status_code, response.json()["code"], response.json()["field"]))
    finally:
        pool.connection = original

    assert answers[0] == answers[1] == (404, "not_found", "dataset_id")
    assert costs[0] == costs[1] == 1


async def test_an_empty_body_is_explained_not_reported_as_data(client, alice):
    response = await client.post("/api/v1/backtests", content=b"", headers=_json(alice.headers))

    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert "'data'" not in response.json()["detail"]


async def test_a_long_poll_wait_above_an_hour_is_capped_not_refused(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    job = (await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)).json()
    client.app.state.services.settings = client.app.state.services.settings.replace(max_wait_seconds=0.2)

    response = await client.get(f"/api/v1/backtests/{job['id']}", params={"wait": "7200"}, headers=alice.headers)

    assert response.status_code == 200, response.text


async def test_an_unreadable_parquet_file_is_explained_without_library_internals(client, alice):
    response = await client.post(
        "/api/v1/datasets",
        params={"name": "broken", "format": "parquet"},
        content=b"PAR1" + b"\x00" * 64 + b"PAR1",
        headers={**alice.headers, "Content-Type": "application/octet-stream"},
    )

    assert response.status_code == 400
    detail = response.json()["detail"].lower()
    assert "parquet" in detail
    assert not any(word in detail for word in ("thrift", "arrow", "error:", "exception"))


async def test_users_cannot_see_workers_queue_statistics_or_metrics(client, alice):
    for path in ("/api/v1/workers", "/api/v1/queue/stats", "/metrics"):
        response = await client.get(path, headers=alice.headers)
        assert response.status_code == 403, (path, response.text)
    assert (await client.get("/metrics")).status_code == 401


async def test_users_see_their_own_queue_counts_and_position(client, alice, bob, admin):
    alices = await upload_dataset(client, alice.headers)
    bobs = await upload_dataset(client, bob.headers, seed=2)
    for fee in (1.0, 2.0):
        strategy = {**STRATEGY_A_EXAMPLE, "costs": {"fee_bps": fee}}
        await client.post("/api/v1/backtests", json=backtest_request(bobs, strategy=strategy), headers=bob.headers)
    await client.post("/api/v1/backtests", json=backtest_request(alices), headers=alice.headers)

    mine = (await client.get("/api/v1/queue/mine", headers=alice.headers)).json()
    stats = await client.get("/api/v1/queue/stats", headers=admin.headers)

    assert mine["pending"] == 1 and mine["running"] == 0
    assert 0 <= mine["jobs_ahead"] <= 2
    assert stats.status_code == 200 and stats.json()["by_status"] == {"pending": 3}


async def test_a_dataset_too_short_for_the_warm_up_is_refused_at_submit_not_failed_later(client, alice):
    dataset_id = await upload_dataset(client, alice.headers, n_bars=30)  # the strategy's slow SMA needs 50

    single = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)
    bundle = await client.post(
        "/api/v1/bundles",
        json={"dataset_id": dataset_id, "strategies": [STRATEGY_A_EXAMPLE]},
        headers=alice.headers,
    )

    for response in (single, bundle):
        assert response.status_code == 400, response.text
        assert response.json()["field"] == "dataset_id"
        assert "30 bars" in response.json()["detail"]


async def test_a_json_submit_declared_as_text_plain_answers_415_not_202(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    import json

    response = await client.post(
        "/api/v1/backtests",
        content=json.dumps(backtest_request(dataset_id)).encode(),
        headers=_json(alice.headers, "text/plain"),
    )

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


async def test_an_idempotent_retry_with_the_same_json_reformatted_replays_instead_of_422(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    headers = {**_json(alice.headers), "Idempotency-Key": "reformatted-1"}
    compact = b'{"dataset_id":"%s","strategy":%s}' % (dataset_id.encode(), _compact(STRATEGY_A_EXAMPLE))
    spaced = b'{\n  "strategy": %s,\n  "dataset_id": "%s"\n}' % (_spaced(STRATEGY_A_EXAMPLE), dataset_id.encode())

    first = await client.post("/api/v1/backtests", content=compact, headers=headers)
    retry = await client.post("/api/v1/backtests", content=spaced, headers=headers)

    assert first.status_code == 202, first.text
    assert retry.status_code == 202, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]


def _compact(value: object) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":")).encode()


def _spaced(value: object) -> bytes:
    import json

    return json.dumps(value, indent=4, sort_keys=True).encode()


async def test_every_response_carries_a_request_id_also_in_problem_bodies(client, alice):
    ok = await client.get("/api/v1/me", headers={**alice.headers, "X-Request-ID": "client-id-42"})
    refused = await client.get(f"/api/v1/backtests/{uuid.uuid4()}", headers=alice.headers)
    insane = await client.get("/health/live", headers={"X-Request-ID": "has spaces\tand tabs"})

    assert ok.headers["x-request-id"] == "client-id-42"
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    assert insane.headers["x-request-id"] != "has spaces\tand tabs"


async def test_another_users_key_cannot_reach_a_dataset_through_the_cache(client, database_url, alice):
    carol = make_caller(database_url, "carol")
    dataset_id = await upload_dataset(client, alice.headers)

    response = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=carol.headers)

    assert response.status_code == 404
