from __future__ import annotations

import pytest

from api_tests.helpers import backtest_request
from api_tests.helpers import upload_dataset


async def _post_raw(client, caller, body: bytes):
    return await client.post(
        "/api/v1/backtests", content=body, headers={**caller.headers, "Content-Type": "application/json"}
    )


async def test_malformed_json_answers_400_saying_so(client, alice):
    response = await _post_raw(client, alice, b'{"dataset_id": ')

    assert response.status_code == 400
    assert "JSON" in response.json()["message"] or "malformed" in response.json()["message"].lower()


async def test_an_unknown_field_is_named(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)

    response = await client.post(
        "/api/v1/backtests", json=backtest_request(dataset_id, colour="blue"), headers=alice.headers
    )

    assert response.status_code == 400
    assert response.json()["field"] == "colour"


async def test_a_wrong_type_is_named_with_the_expected_type(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)

    response = await client.post(
        "/api/v1/backtests", json=backtest_request(dataset_id, priority="high"), headers=alice.headers
    )

    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "priority"
    assert "int" in body["reason"]


async def test_an_out_of_range_value_is_named_with_the_bound(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)

    response = await client.post(
        "/api/v1/backtests", json=backtest_request(dataset_id, priority=1000), headers=alice.headers
    )

    assert response.status_code == 400
    assert response.json()["field"] == "priority"
    assert "100" in response.json()["reason"]


async def test_a_missing_field_is_named(client, alice):
    response = await client.post("/api/v1/backtests", json={"strategy": {}}, headers=alice.headers)

    assert response.status_code == 400
    assert response.json()["field"] == "dataset_id"


async def test_an_oversized_body_answers_413(client, alice):
    response = await _post_raw(client, alice, b'{"x": "' + b"a" * (3 * 1024 * 1024) + b'"}')

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_a_bad_uuid_in_the_path_is_a_404_or_400(client, alice):
    response = await client.get("/api/v1/backtests/not-a-uuid", headers=alice.headers)

    assert response.status_code in (400, 404)


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "abc"}, {"status": "done"}, {"cursor": "garbage!"}])
async def test_bad_listing_parameters_answer_400(client, alice, query):
    response = await client.get("/api/v1/backtests", params=query, headers=alice.headers)

    assert response.status_code == 400
    assert response.json()["message"]
