from __future__ import annotations

import asyncio

from api_tests.helpers import backtest_request
from api_tests.helpers import finish_later
from api_tests.helpers import run_jobs
from api_tests.helpers import upload_dataset


async def _submit(client, caller, dataset_id, **changes):
    request = backtest_request(dataset_id, **changes)
    response = await client.post("/api/v1/backtests", json=request, headers=caller.headers)
    assert response.status_code == 202, response.text
    return response.json()


async def test_a_finished_backtest_shows_metrics_equity_curve_and_trades(client, alice, queue):
    dataset_id = await upload_dataset(client, alice.headers)
    job = await _submit(client, alice, dataset_id)
    await run_jobs(queue)

    body = (await client.get(f"/api/v1/backtests/{job['id']}", headers=alice.headers)).json()

    assert body["status"] == "succeeded"
    assert body["result"]["metrics"]["sharpe"] == 1.0
    assert body["result"]["equity_curve"] == [[1, 10000.0], [2, 10100.0]]
    assert body["result"]["trades"][0]["exit_reason"] == "signal"
    assert body["finished_at"] is not None


async def test_trades_are_also_served_as_csv(client, alice, queue):
    dataset_id = await upload_dataset(client, alice.headers)
    job = await _submit(client, alice, dataset_id)
    await run_jobs(queue)

    response = await client.get(f"/api/v1/backtests/{job['id']}/trades.csv", headers=alice.headers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    header, row = response.text.strip().split("\n")
    assert header.startswith("entry_time,exit_time,entry_price")
    assert row.startswith("1970-01-01T00:00:01Z,1970-01-01T00:00:02Z,10.0,11.0,long")


async def test_an_identical_request_reuses_the_finished_result(client, alice, queue):
    dataset_id = await upload_dataset(client, alice.headers)
    first = await _submit(client, alice, dataset_id)
    await run_jobs(queue)

    second = await _submit(client, alice, dataset_id)

    assert second["status"] == "succeeded"
    assert second["reused_from"] == first["id"]
    body = (await client.get(f"/api/v1/backtests/{second['id']}", headers=alice.headers)).json()
    assert body["result"]["metrics"]["sharpe"] == 1.0


async def test_reuse_can_be_declined(client, alice, queue):
    dataset_id = await upload_dataset(client, alice.headers)
    await _submit(client, alice, dataset_id)
    await run_jobs(queue)

    second = await _submit(client, alice, dataset_id, reuse=False)

    assert second["status"] == "pending"
    assert second["reused_from"] is None


async def test_a_long_poll_returns_as_soon_as_the_backtest_finishes(client, alice, database_url):
    dataset_id = await upload_dataset(client, alice.headers)
    job = await _submit(client, alice, dataset_id)

    started = asyncio.get_running_loop().time()
    finisher = finish_later(database_url, 0.5)
    response = await client.get(f"/api/v1/backtests/{job['id']}", params={"wait": 20}, headers=alice.headers)
    elapsed = asyncio.get_running_loop().time() - started
    finisher.join()

    assert response.json()["status"] == "succeeded"
    assert 0.4 < elapsed < 20  # woken by the finish, not by the wait running out


async def test_a_long_poll_gives_up_after_the_wait(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    job = await _submit(client, alice, dataset_id)

    started = asyncio.get_running_loop().time()
    response = await client.get(f"/api/v1/backtests/{job['id']}", params={"wait": 0.5}, headers=alice.headers)

    assert response.json()["status"] == "pending"
    assert asyncio.get_running_loop().time() - started >= 0.5


async def test_progress_events_stream_until_the_backtest_is_final(client, alice, database_url):
    dataset_id = await upload_dataset(client, alice.headers)
    job = await _submit(client, alice, dataset_id)

    finisher = finish_later(database_url, 0.5)
    response = await client.get(f"/api/v1/backtests/{job['id']}/events", headers=alice.headers, timeout=10)
    finisher.join()

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line for line in response.text.splitlines() if line.startswith("data:")]
    assert '"status":"pending"' in events[0]
    assert '"status":"succeeded"' in events[-1]
