from __future__ import annotations

from api_tests.helpers import backtest_request
from api_tests.helpers import run_jobs
from api_tests.helpers import upload_dataset
from backtest_shared.engine import STRATEGY_A_EXAMPLE

GRID = {"indicators.fast.period": [5, 10, 20], "indicators.slow.period": [40, 60]}


async def _submit_bundle(client, caller, dataset_id, **changes):
    request = {"dataset_id": dataset_id, "base": STRATEGY_A_EXAMPLE, "grid": GRID, **changes}
    response = await client.post("/api/v1/bundles", json=request, headers=caller.headers)
    assert response.status_code == 202, response.text
    return response.json()


def _sharpe_by_fast_period(job):
    return {"sharpe": float(job.config["strategy"]["indicators"]["fast"]["period"]), "max_drawdown": 0.1}


async def test_a_grid_becomes_one_job_per_combination(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)

    accepted = await _submit_bundle(client, alice, dataset_id)

    assert accepted["total_jobs"] == 6
    body = (await client.get(f"/api/v1/bundles/{accepted['id']}", headers=alice.headers)).json()
    assert body["counts"] == {"pending": 6}
    assert body["status"] == "pending"
    assert body["finished"] is False


async def test_an_explicit_list_of_strategies_becomes_a_bundle(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    strategies = [{**STRATEGY_A_EXAMPLE, "name": f"s{i}"} for i in range(3)]

    accepted = await _submit_bundle(client, alice, dataset_id, base=None, grid=None, strategies=strategies)

    assert accepted["total_jobs"] == 3


async def test_a_finished_bundle_ranks_results_and_names_the_best_parameters(client, alice, queue):
    dataset_id = await upload_dataset(client, alice.headers)
    accepted = await _submit_bundle(client, alice, dataset_id)
    await run_jobs(queue, metrics_for=_sharpe_by_fast_period)

    body = (await client.get(f"/api/v1/bundles/{accepted['id']}", params={"wait": 5}, headers=alice.headers)).json()

    assert body["finished"] is True
    assert body["counts"] == {"succeeded": 6}
    assert body["progress"] == 1.0
    assert [r["metrics"]["sharpe"] for r in body["results"]] == [20.0, 20.0, 10.0, 10.0, 5.0, 5.0]
    assert body["best"]["parameters"]["indicators.fast.period"] == 20


async def test_results_can_be_ranked_by_another_metric(client, alice, queue):
    dataset_id = await upload_dataset(client, alice.headers)
    accepted = await _submit_bundle(client, alice, dataset_id)
    await run_jobs(queue, metrics_for=_sharpe_by_fast_period)

    body = (
        await client.get(
            f"/api/v1/bundles/{accepted['id']}", params={"rank_by": "max_drawdown", "top": 2}, headers=alice.headers
        )
    ).json()

    assert body["rank_by"] == "max_drawdown"
    assert len(body["results"]) == 2


async def test_an_unknown_ranking_metric_answers_400(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    accepted = await _submit_bundle(client, alice, dataset_id)

    response = await client.get(f"/api/v1/bundles/{accepted['id']}", params={"rank_by": "luck"}, headers=alice.headers)

    assert response.status_code == 400
    assert response.json()["field"] == "rank_by"


async def test_a_bad_grid_path_is_named(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)

    response = await client.post(
        "/api/v1/bundles",
        json={"dataset_id": dataset_id, "base": STRATEGY_A_EXAMPLE, "grid": {"indicators.fats.period": [1]}},
        headers=alice.headers,
    )

    assert response.status_code == 400
    assert response.json()["field"] == "grid.indicators.fats.period"


async def test_a_bad_grid_value_is_named(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)

    response = await client.post(
        "/api/v1/bundles",
        json={"dataset_id": dataset_id, "base": STRATEGY_A_EXAMPLE, "grid": {"indicators.fast.period": [5, -1]}},
        headers=alice.headers,
    )

    assert response.status_code == 400
    assert response.json()["field"] == "indicators.fast.period" or "fast.period" in response.json()["field"]


async def test_a_bundle_over_the_pending_limit_creates_nothing(client, database_url):
    from api_tests.conftest import make_caller

    dave = make_caller(database_url, "dave", max_pending_jobs=5)
    dataset_id = await upload_dataset(client, dave.headers)

    response = await client.post(
        "/api/v1/bundles",
        json={"dataset_id": dataset_id, "base": STRATEGY_A_EXAMPLE, "grid": GRID},
        headers=dave.headers,
    )

    assert response.status_code == 429
    assert (await client.get("/api/v1/bundles", headers=dave.headers)).json()["items"] == []
    assert (await client.get("/api/v1/backtests", headers=dave.headers)).json()["items"] == []


async def test_cancelling_a_bundle_cancels_its_pending_jobs(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    accepted = await _submit_bundle(client, alice, dataset_id)

    response = await client.post(f"/api/v1/bundles/{accepted['id']}/cancel", headers=alice.headers)

    assert response.json() == {"cancelled": 6, "cancel_requested": 0}
    body = (await client.get(f"/api/v1/bundles/{accepted['id']}", headers=alice.headers)).json()
    assert body["counts"] == {"cancelled": 6}
    assert body["finished"] is True


async def test_another_users_bundle_answers_404(client, alice, bob):
    dataset_id = await upload_dataset(client, alice.headers)
    accepted = await _submit_bundle(client, alice, dataset_id)

    assert (await client.get(f"/api/v1/bundles/{accepted['id']}", headers=bob.headers)).status_code == 404
    assert (await client.post(f"/api/v1/bundles/{accepted['id']}/cancel", headers=bob.headers)).status_code == 404


async def test_a_resubmitted_bundle_reuses_finished_results(client, alice, queue):
    dataset_id = await upload_dataset(client, alice.headers)
    await _submit_bundle(client, alice, dataset_id)
    await run_jobs(queue)

    again = await _submit_bundle(client, alice, dataset_id)

    assert again["reused_jobs"] == 6
    assert again["status"] == "finished"


async def test_bundle_jobs_are_listed_by_bundle(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    accepted = await _submit_bundle(client, alice, dataset_id)
    await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)

    page = (await client.get("/api/v1/backtests", params={"bundle_id": accepted["id"]}, headers=alice.headers)).json()

    assert len(page["items"]) == 6
