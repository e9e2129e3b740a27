"""Clients see the same result payloads whichever form a result is stored in.

The same job's result is served once from the compact form a worker now writes
(``backtest_shared.results``) and once from the JSON form rows written before
migration 0011 hold; the JSON body and both CSV exports must be byte for byte
the same.
"""

from __future__ import annotations

import uuid

import msgspec

from api_tests.helpers import backtest_request
from api_tests.helpers import upload_dataset
from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.jobs.models import Lease
from backtest_shared.results import encode_result

READS = ("", "/trades.csv", "/equity.csv")


async def _served(client, caller, job_id: str) -> list[bytes]:  # type: ignore[no-untyped-def]
    bodies = []
    for suffix in READS:
        response = await client.get(f"/api/v1/backtests/{job_id}{suffix}", headers=caller.headers)
        assert response.status_code == 200, response.text
        bodies.append(response.content)
    return bodies


async def test_the_compact_and_the_json_form_of_one_result_serve_identical_payloads(client, alice, queue, pool):  # type: ignore[no-untyped-def]
    dataset_id = await upload_dataset(client, alice.headers)
    response = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)
    job_id = response.json()["id"]
    [claimed] = await queue.claim(uuid.uuid4(), 1)
    result = run_backtest(synthetic_ohlcv(20_000, seed=11), decode_strategy(STRATEGY_B_EXAMPLE))
    await queue.complete_encoded([(Lease(claimed.id, claimed.lease_token), encode_result(result))])

    compact = await _served(client, alice, job_id)

    stored = result.to_stored()
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE job_results SET equity_curve = %s::json, trades = %s::json, detail = NULL WHERE job_id = %s",
            (msgspec.json.encode(stored.equity_curve).decode(), msgspec.json.encode(stored.trades).decode(), job_id),
        )
    as_json = await _served(client, alice, job_id)

    assert len(msgspec.json.decode(compact[0])["result"]["trades"]) == len(stored.trades) > 100
    assert compact == as_json
