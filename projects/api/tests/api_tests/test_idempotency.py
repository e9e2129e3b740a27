from __future__ import annotations

from api_tests.helpers import backtest_request
from api_tests.helpers import upload_dataset
from backtest_api.idempotency import repository


async def _count_backtests(client, caller) -> int:
    return len((await client.get("/api/v1/backtests", headers=caller.headers)).json()["items"])


async def test_a_retried_post_returns_the_first_response_and_creates_nothing(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    headers = {**alice.headers, "Idempotency-Key": "submit-1"}

    first = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=headers)
    retry = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=headers)

    assert retry.status_code == first.status_code == 202
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert await _count_backtests(client, alice) == 1


async def test_the_same_key_with_a_different_body_answers_422(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    headers = {**alice.headers, "Idempotency-Key": "submit-1"}
    await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=headers)

    response = await client.post("/api/v1/backtests", json=backtest_request(dataset_id, priority=5), headers=headers)

    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"


async def test_keys_are_private_to_each_user(client, alice, bob):
    alice_dataset = await upload_dataset(client, alice.headers)
    bob_dataset = await upload_dataset(client, bob.headers)

    first = await client.post(
        "/api/v1/backtests", json=backtest_request(alice_dataset), headers={**alice.headers, "Idempotency-Key": "k"}
    )
    second = await client.post(
        "/api/v1/backtests", json=backtest_request(bob_dataset), headers={**bob.headers, "Idempotency-Key": "k"}
    )

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] != second.json()["id"]


async def test_a_refused_request_does_not_burn_its_key(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    headers = {**alice.headers, "Idempotency-Key": "retry-me"}
    bad = await client.post("/api/v1/backtests", json={"dataset_id": dataset_id}, headers=headers)

    good = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=headers)

    assert bad.status_code == 400
    assert good.status_code == 202


async def test_dataset_uploads_are_idempotent_too(client, alice):
    from api_tests.helpers import csv_bytes
    from backtest_shared.engine import synthetic_ohlcv

    body = csv_bytes(synthetic_ohlcv(100))
    headers = {**alice.headers, "Idempotency-Key": "upload-1", "Content-Type": "text/csv"}
    first = await client.post("/api/v1/datasets", params={"name": "d"}, content=body, headers=headers)
    retry = await client.post("/api/v1/datasets", params={"name": "d"}, content=body, headers=headers)

    assert first.json()["id"] == retry.json()["id"]
    assert len((await client.get("/api/v1/datasets", headers=alice.headers)).json()["items"]) == 1


async def _age_records(pool, seconds: int) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE idempotency_records SET created_at = now() - %s * interval '1 second'", (seconds,))


async def test_a_key_past_its_retention_period_is_new_again(client, alice, pool):
    dataset_id = await upload_dataset(client, alice.headers)
    headers = {**alice.headers, "Idempotency-Key": "submit-old"}
    first = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=headers)
    await _age_records(pool, 86_400 + 60)

    again = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=headers)

    assert again.status_code == 202
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert await _count_backtests(client, alice) == 2


async def test_the_purge_deletes_expired_records_and_keeps_live_ones(client, alice, pool):
    dataset_id = await upload_dataset(client, alice.headers)
    for key in ("old-1", "old-2"):
        await client.post(
            "/api/v1/backtests", json=backtest_request(dataset_id), headers={**alice.headers, "Idempotency-Key": key}
        )
    await _age_records(pool, 90_000)
    await client.post(
        "/api/v1/backtests", json=backtest_request(dataset_id), headers={**alice.headers, "Idempotency-Key": "fresh"}
    )

    deleted = await repository.purge_expired(pool, ttl_seconds=86_400, batch=1)

    async with pool.connection() as conn:
        keys = await (await conn.execute("SELECT key FROM idempotency_records")).fetchall()
    assert deleted == 2
    assert keys == [("fresh",)]


async def _abandon_reservation(pool, user_name: str, key: str, age_seconds: int, like_key: str | None = None) -> None:
    """What a request leaves behind when the database goes away before its answer is stored.

    With ``like_key``, the reservation is for the same request as that key's record.
    """
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO idempotency_records (user_id, key, request_hash, status_code, response_body, created_at)"
            " SELECT u.id, %s, coalesce((SELECT request_hash FROM idempotency_records WHERE key = %s), 'died'),"
            "        0, '', now() - %s * interval '1 second'"
            "   FROM users u WHERE u.name = %s",
            (key, like_key, age_seconds, user_name),
        )


async def test_a_reservation_abandoned_by_a_failover_is_taken_over_after_a_minute_not_five(client, alice, pool):
    dataset_id = await upload_dataset(client, alice.headers)
    request = backtest_request(dataset_id)
    await _abandon_reservation(pool, alice.name, "cut-off", repository.ABANDONED_AFTER_SECONDS + 5)

    taken_over = await client.post(
        "/api/v1/backtests", json=request, headers={**alice.headers, "Idempotency-Key": "cut-off"}
    )
    await _abandon_reservation(
        pool, alice.name, "still-running", repository.ABANDONED_AFTER_SECONDS - 30, like_key="cut-off"
    )
    in_progress = await client.post(
        "/api/v1/backtests", json=request, headers={**alice.headers, "Idempotency-Key": "still-running"}
    )

    assert repository.ABANDONED_AFTER_SECONDS <= 60
    assert taken_over.status_code == 202
    assert in_progress.status_code == 409
