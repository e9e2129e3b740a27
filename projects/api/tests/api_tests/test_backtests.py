from __future__ import annotations

from api_tests.helpers import backtest_request
from api_tests.helpers import upload_dataset


async def test_submitting_a_backtest_answers_202_with_its_location_and_status(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)

    response = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert response.headers["location"] == f"/api/v1/backtests/{body['id']}"


async def test_a_submitted_backtest_can_be_read_back_as_pending(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    submitted = (
        await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)
    ).json()

    response = await client.get(f"/api/v1/backtests/{submitted['id']}", headers=alice.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "pending"
    assert body["progress"] == 0
    assert body["result"] is None
    assert body["config"]["dataset_id"] == dataset_id


async def test_another_users_backtest_answers_404(client, alice, bob):
    dataset_id = await upload_dataset(client, alice.headers)
    submitted = (
        await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)
    ).json()

    response = await client.get(f"/api/v1/backtests/{submitted['id']}", headers=bob.headers)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_an_admin_sees_every_users_backtest(client, alice, admin):
    dataset_id = await upload_dataset(client, alice.headers)
    submitted = (
        await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)
    ).json()

    response = await client.get(f"/api/v1/backtests/{submitted['id']}", headers=admin.headers)

    assert response.status_code == 200


async def test_a_strategy_error_names_the_field_and_the_reason(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    request = backtest_request(dataset_id)
    request["strategy"] = {**request["strategy"], "indicators": {"fast": {"kind": "sma", "period": 0}}}

    response = await client.post("/api/v1/backtests", json=request, headers=alice.headers)

    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "strategy.indicators.fast.period"
    assert "1" in body["reason"]


async def test_a_dataset_of_another_user_cannot_be_used(client, alice, bob):
    dataset_id = await upload_dataset(client, alice.headers)

    response = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=bob.headers)

    assert response.status_code == 404
    assert response.json()["field"] == "dataset_id"


async def test_cancelling_a_pending_backtest_makes_it_cancelled(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    submitted = (
        await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)
    ).json()

    response = await client.post(f"/api/v1/backtests/{submitted['id']}/cancel", headers=alice.headers)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


async def test_listing_shows_only_the_callers_backtests_newest_first_in_pages(client, alice, bob):
    dataset_id = await upload_dataset(client, alice.headers)
    ids = []
    for period in range(5, 10):
        request = backtest_request(dataset_id)
        request["strategy"] = {**request["strategy"], "name": f"p{period}"}
        ids.append((await client.post("/api/v1/backtests", json=request, headers=alice.headers)).json()["id"])
    bob_dataset = await upload_dataset(client, bob.headers)
    await client.post("/api/v1/backtests", json=backtest_request(bob_dataset), headers=bob.headers)

    first = (await client.get("/api/v1/backtests", params={"limit": 3}, headers=alice.headers)).json()
    second = (
        await client.get(
            "/api/v1/backtests", params={"limit": 3, "cursor": first["next_cursor"]}, headers=alice.headers
        )
    ).json()

    listed = [item["id"] for item in first["items"] + second["items"]]
    assert listed == list(reversed(ids))
    assert second["next_cursor"] is None


async def test_listing_filters_by_status(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    kept = (await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)).json()
    request = backtest_request(dataset_id)
    request["strategy"] = {**request["strategy"], "name": "other"}
    cancelled = (await client.post("/api/v1/backtests", json=request, headers=alice.headers)).json()
    await client.post(f"/api/v1/backtests/{cancelled['id']}/cancel", headers=alice.headers)

    page = (await client.get("/api/v1/backtests", params={"status": "pending"}, headers=alice.headers)).json()

    assert [item["id"] for item in page["items"]] == [kept["id"]]
