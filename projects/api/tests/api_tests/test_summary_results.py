"""A sweep's backtest stored as a summary is served as if its full detail had been stored.

Oracle: the same job's payloads while its row holds the complete detail a worker
stores (``encode_result`` of its config run on its dataset). After the row is
replaced by the summary (``encode_summary``), every read of the result (the
JSON body, both CSV exports, the cancel answer) must give the same bytes, and
the first one must leave the complete detail in the row, so that later reads
run nothing.
"""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest

from api_tests.helpers import upload_dataset
from backtest_api.backtests import repository
from backtest_api.backtests import results as results_service
from backtest_shared.datasets.store import load_dataset_parquet
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import load_parquet
from backtest_shared.engine import run_backtest
from backtest_shared.jobs.models import Lease
from backtest_shared.results import SUMMARY_POINTS
from backtest_shared.results import decode_columns
from backtest_shared.results import detail_is_complete
from backtest_shared.results import encode_result
from backtest_shared.results import encode_summary

#: Every read that serves a job's trades or curve: (method, path suffix).
READS = (("GET", ""), ("GET", "/trades.csv"), ("GET", "/equity.csv"), ("POST", "/cancel"))
N_BARS = 3000


async def _served(client, caller, job_id, reads=READS) -> list[bytes]:  # type: ignore[no-untyped-def]
    bodies = []
    for method, suffix in reads:
        response = await client.request(method, f"/api/v1/backtests/{job_id}{suffix}", headers=caller.headers)
        assert response.status_code == 200, response.text
        bodies.append(response.content)
    return bodies


async def _sweep_run_completely(client, caller, queue, pool) -> dict:  # type: ignore[no-untyped-def]
    """A two-backtest sweep, run as a worker runs it; job id -> (complete, summary) stored forms."""
    dataset_id = await upload_dataset(client, caller.headers, n_bars=N_BARS, seed=5)
    response = await client.post(
        "/api/v1/bundles",
        json={"dataset_id": dataset_id, "base": STRATEGY_A_EXAMPLE, "grid": {"indicators.fast.period": [5, 10]}},
        headers=caller.headers,
    )
    assert response.status_code == 202, response.text
    claimed = await queue.claim(uuid.uuid4(), 10)
    assert len(claimed) == 2 and all(job.bundle_id is not None for job in claimed)
    forms = {}
    for job in claimed:
        stored = await load_dataset_parquet(pool, job.dataset_id)
        assert stored is not None
        result = run_backtest(load_parquet(stored[1]), decode_strategy(job.config["strategy"]))
        assert len(result.trades) > 5 and len(result.equity) > SUMMARY_POINTS
        forms[str(job.id)] = (encode_result(result), encode_summary(result))
        await queue.complete_encoded([(Lease(job.id, job.lease_token), forms[str(job.id)][0])])
    return forms


async def _detail(pool, job_id: str) -> bytes:  # type: ignore[no-untyped-def]
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT detail FROM job_results WHERE job_id = %s", (job_id,))
        row = await cur.fetchone()
    return bytes(row[0])


async def _store_summary(pool, job_id: str, summary: bytes) -> None:  # type: ignore[no-untyped-def]
    async with pool.connection() as conn:
        await conn.execute("UPDATE job_results SET detail = %s WHERE job_id = %s", (summary, job_id))


def _forbid_runs(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def run(*args):  # type: ignore[no-untyped-def]
        raise AssertionError("the result was regenerated although its full detail was cached")

    monkeypatch.setattr(results_service, "_run", run)


@pytest.mark.parametrize("first", range(len(READS)))
async def test_a_summary_is_served_as_the_complete_result_and_then_cached(  # type: ignore[no-untyped-def]
    client, alice, queue, pool, monkeypatch, first
):
    forms = await _sweep_run_completely(client, alice, queue, pool)
    as_stored_complete = {}
    for job_id, (complete, summary) in forms.items():
        as_stored_complete[job_id] = await _served(client, alice, job_id)
        await _store_summary(pool, job_id, summary.detail)
        assert not detail_is_complete(await _detail(pool, job_id))

        # The first read, whichever it is, regenerates and caches the complete detail.
        [regenerated] = await _served(client, alice, job_id, [READS[first]])
        assert regenerated == as_stored_complete[job_id][first]
        assert await _detail(pool, job_id) == complete.detail

    # Every later read is served from the cached detail: running the engine would fail it.
    with monkeypatch.context() as patch:
        _forbid_runs(patch)
        for job_id in forms:
            assert await _served(client, alice, job_id) == as_stored_complete[job_id]


async def test_the_served_curve_and_trades_are_not_the_summarys(client, alice, queue, pool):  # type: ignore[no-untyped-def]
    """Serving the stored summary itself (a 100-point curve, no trades) must fail this test."""
    forms = await _sweep_run_completely(client, alice, queue, pool)
    job_id, (complete, summary) = next(iter(forms.items()))
    await _store_summary(pool, job_id, summary.detail)

    response = await client.get(f"/api/v1/backtests/{job_id}", headers=alice.headers)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    summary_curve, _ = decode_columns(summary.detail).to_builtins()
    full_curve, full_trades = decode_columns(complete.detail).to_builtins()
    assert len(summary_curve) <= SUMMARY_POINTS < len(full_curve)
    assert result["equity_curve"] == full_curve != summary_curve
    assert result["trades"] == full_trades and len(full_trades) > 5
    del result["metrics"]["buy_and_hold_return"]
    assert result["metrics"] == msgspec.json.decode(complete.metrics_json)
    trades_csv = (await client.get(f"/api/v1/backtests/{job_id}/trades.csv", headers=alice.headers)).text
    assert len(trades_csv.splitlines()) == len(full_trades) + 1
    equity_csv = (await client.get(f"/api/v1/backtests/{job_id}/equity.csv", headers=alice.headers)).text
    assert len(equity_csv.splitlines()) == len(full_curve) + 1


async def test_concurrent_reads_of_a_summary_agree_and_cache_once(client, alice, queue, pool):  # type: ignore[no-untyped-def]
    forms = await _sweep_run_completely(client, alice, queue, pool)
    job_id, (complete, summary) = next(iter(forms.items()))
    expected = await _served(client, alice, job_id, READS[:3])
    await _store_summary(pool, job_id, summary.detail)

    bodies = await asyncio.gather(*(_served(client, alice, job_id, [read]) for read in READS[:3] * 2))
    assert [body for [body] in bodies] == expected * 2
    assert await _detail(pool, job_id) == complete.detail


async def test_a_reused_summary_is_regenerated_for_the_reusing_job(client, alice, queue, pool):  # type: ignore[no-untyped-def]
    forms = await _sweep_run_completely(client, alice, queue, pool)
    job_id, (complete, summary) = next(iter(forms.items()))
    expected = await _served(client, alice, job_id, READS[:3])
    await _store_summary(pool, job_id, summary.detail)
    source = (await client.get(f"/api/v1/backtests/{job_id}", headers=alice.headers)).json()
    await _store_summary(pool, job_id, summary.detail)

    config = source["config"]
    response = await client.post(
        "/api/v1/backtests",
        json={"dataset_id": config["dataset_id"], "strategy": config["strategy"]},
        headers=alice.headers,
    )
    assert response.status_code == 202 and response.json()["reused_from"] == job_id, response.text
    reusing = response.json()["id"]
    assert not detail_is_complete(await _detail(pool, reusing))
    served = await _served(client, alice, reusing, READS[:3])
    assert served[1:] == expected[1:]
    assert msgspec.json.decode(served[0])["result"] == msgspec.json.decode(expected[0])["result"]
    assert await _detail(pool, reusing) == complete.detail


@pytest.mark.parametrize("change", ["engine", "metrics"])
async def test_a_summary_that_cannot_be_regenerated_exactly_is_refused_not_replaced(  # type: ignore[no-untyped-def]
    client, alice, queue, pool, change
):
    forms = await _sweep_run_completely(client, alice, queue, pool)
    job_id, (_complete, summary) = next(iter(forms.items()))
    await _store_summary(pool, job_id, summary.detail)
    async with pool.connection() as conn:
        if change == "engine":  # the job ran on an engine whose hashes differ from this one's
            await conn.execute("UPDATE backtest_jobs SET config_hash = 'older-engine' WHERE id = %s", (job_id,))
            await conn.execute("UPDATE job_results SET config_hash = 'older-engine' WHERE job_id = %s", (job_id,))
        else:
            await conn.execute(
                """UPDATE job_results SET metrics = metrics || '{"sharpe": 123.0}' WHERE job_id = %s""", (job_id,)
            )

    for method, suffix in READS[:3]:
        response = await client.request(method, f"/api/v1/backtests/{job_id}{suffix}", headers=alice.headers)
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "conflict"
        assert "submit the backtest again" in response.json()["detail"]
    assert await _detail(pool, job_id) == summary.detail


async def test_the_cache_write_replaces_only_the_summary_it_read(client, alice, queue, pool):  # type: ignore[no-untyped-def]
    forms = await _sweep_run_completely(client, alice, queue, pool)
    job_id, (complete, summary) = next(iter(forms.items()))
    await _store_summary(pool, job_id, summary.detail)
    config_hash = (await queue.get(uuid.UUID(job_id))).config_hash
    row = await repository.stored_result(pool, uuid.UUID(job_id), config_hash)
    assert row is not None and row.detail == summary.detail
    write = {"summary": summary.detail, "detail": complete.detail, "metrics_json": complete.metrics_json}

    assert await repository.replace_summary(pool, uuid.UUID(job_id), config_hash, **write) == (True, True)
    assert await repository.replace_summary(pool, uuid.UUID(job_id), config_hash, **write) == (True, False)
    other = {**write, "detail": b"something else"}
    assert await repository.replace_summary(pool, uuid.UUID(job_id), config_hash, **other) == (True, False)
    assert await _detail(pool, job_id) == complete.detail
    assert await repository.replace_summary(pool, uuid.uuid4(), config_hash, **write) is None
