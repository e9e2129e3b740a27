"""Bundles for quant users: grid constraints, result totals, a cancelled status and the results CSV."""

from __future__ import annotations

import csv
import io

from api_tests.helpers import run_jobs
from api_tests.helpers import upload_dataset
from backtest_shared.engine import STRATEGY_A_EXAMPLE

GRID = {"indicators.fast.period": [5, 10, 20, 40], "indicators.slow.period": [10, 20, 40]}


async def _submit(client, caller, dataset_id, **changes):
    request = {"dataset_id": dataset_id, "base": STRATEGY_A_EXAMPLE, "grid": GRID, **changes}
    return await client.post("/api/v1/bundles", json=request, headers=caller.headers)


def _periods(job):
    indicators = job.config["strategy"]["indicators"]
    return indicators["fast"]["period"], indicators["slow"]["period"]


async def test_a_where_constraint_keeps_only_the_combinations_it_accepts(client, alice, queue):
    dataset_id = await upload_dataset(client, alice.headers)

    response = await _submit(client, alice, dataset_id, where="fast.period < slow.period")

    assert response.status_code == 202, response.text
    assert response.json()["total_jobs"] == 6
    jobs = await run_jobs(queue)
    assert sorted(_periods(job) for job in jobs) == [(5, 10), (5, 20), (5, 40), (10, 20), (10, 40), (20, 40)]


async def test_several_constraints_must_all_hold_and_may_use_arithmetic(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)

    response = await _submit(
        client, alice, dataset_id, where=["indicators.slow.period >= 2 * fast.period", "fast.period != 5"]
    )

    assert response.status_code == 202, response.text
    assert response.json()["total_jobs"] == 3  # (10, 20), (10, 40), (20, 40)


async def test_a_bad_constraint_answers_400_naming_the_where_field(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)

    syntax = await _submit(client, alice, dataset_id, where="fast.period <")
    unknown = await _submit(client, alice, dataset_id, where=["fast.period < 50", "fats.period < slow.period"])
    code = await _submit(client, alice, dataset_id, where="__import__('os').system('true') < 1")

    assert syntax.status_code == 400
    assert syntax.json()["field"] == "where"
    assert unknown.status_code == 400
    assert unknown.json()["field"] == "where[1]"
    assert "fats.period" in unknown.json()["reason"]
    assert code.status_code == 400
    assert code.json()["field"] == "where"


async def test_constraints_that_exclude_everything_answer_400(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)

    response = await _submit(client, alice, dataset_id, where="fast.period > 1000")

    assert response.status_code == 400
    assert response.json()["field"] == "where"


async def test_a_bundle_reports_how_many_results_there_are_beyond_top(client, alice, queue):
    dataset_id = await upload_dataset(client, alice.headers)
    bundle_id = (await _submit(client, alice, dataset_id)).json()["id"]
    await run_jobs(queue)

    body = (await client.get(f"/api/v1/bundles/{bundle_id}", params={"top": 3}, headers=alice.headers)).json()

    assert len(body["results"]) == 3
    assert body["total_results"] == 12


async def test_a_cancelled_bundle_reports_cancelled_not_finished(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    bundle_id = (await _submit(client, alice, dataset_id)).json()["id"]

    await client.post(f"/api/v1/bundles/{bundle_id}/cancel", headers=alice.headers)
    body = (await client.get(f"/api/v1/bundles/{bundle_id}", headers=alice.headers)).json()

    assert body["status"] == "cancelled"
    assert body["finished"] is True


async def test_the_results_csv_has_every_result_with_each_parameter_and_metric(client, alice, queue):
    dataset_id = await upload_dataset(client, alice.headers)
    bundle_id = (await _submit(client, alice, dataset_id)).json()["id"]
    await run_jobs(queue, metrics_for=lambda job: {"sharpe": float(_periods(job)[0]), "max_drawdown": 0.1})

    response = await client.get(f"/api/v1/bundles/{bundle_id}/results.csv", headers=alice.headers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 12
    assert {"rank", "backtest_id", "indicators.fast.period", "indicators.slow.period", "sharpe"} <= set(rows[0])
    assert [float(r["sharpe"]) for r in rows] == sorted((float(r["sharpe"]) for r in rows), reverse=True)


async def test_an_unknown_strategy_field_suggests_the_closest_name(client, alice):
    dataset_id = await upload_dataset(client, alice.headers)
    base = {**STRATEGY_A_EXAMPLE, "money": {"stop_los_pct": 2.0}}

    response = await _submit(client, alice, dataset_id, base=base)

    assert response.status_code == 400
    assert response.json()["field"] == "base.money.stop_los_pct"
    assert "did you mean 'stop_loss_pct'" in response.json()["reason"]
