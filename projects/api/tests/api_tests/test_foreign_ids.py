"""Another user's id is refused exactly as an id that does not exist: same statements, same nothing read.

A timing test would be noisy; what makes the two answers take the same time is
that they take the same path. So each request is made twice by another user,
once with the owner's id and once with a random one, while every statement the
API sends to PostgreSQL is recorded with the number of rows it returned. The two
recordings must be identical (ids aside): no statement may find the foreign row
and leave the owner check to Python, and no in-process cache may answer one of
them before the database is asked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from api_tests.helpers import backtest_request
from api_tests.helpers import run_jobs
from api_tests.helpers import upload_dataset
from backtest_shared.engine import STRATEGY_A_EXAMPLE

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: (method, path, JSON body) with ``{id}`` standing for the id under test.
JOB_REQUESTS = [
    ("GET", "/api/v1/backtests/{id}", None),
    ("GET", "/api/v1/backtests/{id}?wait=0.05", None),
    ("POST", "/api/v1/backtests/{id}/cancel", None),
    ("GET", "/api/v1/backtests/{id}/trades.csv", None),
    ("GET", "/api/v1/backtests/{id}/equity.csv", None),
    ("GET", "/api/v1/backtests/{id}/events", None),
]
BUNDLE_REQUESTS = [
    ("GET", "/api/v1/bundles/{id}", None),
    ("GET", "/api/v1/bundles/{id}?wait=0.05", None),
    ("GET", "/api/v1/bundles/{id}/results.csv", None),
    ("GET", "/api/v1/bundles/{id}/events", None),
    ("POST", "/api/v1/bundles/{id}/cancel", None),
]
DATASET_REQUESTS = [
    ("GET", "/api/v1/datasets/{id}", None),
    ("GET", "/api/v1/datasets/{id}/prices", None),
    ("DELETE", "/api/v1/datasets/{id}", None),
    ("POST", "/api/v1/backtests", {"dataset_id": "{id}", "strategy": STRATEGY_A_EXAMPLE}),
    ("POST", "/api/v1/validate/backtest", {"dataset_id": "{id}", "strategy": STRATEGY_A_EXAMPLE}),
    ("POST", "/api/v1/bundles", {"dataset_id": "{id}", "base": STRATEGY_A_EXAMPLE, "grid": {"costs.fee_bps": [1]}}),
    ("POST", "/api/v1/validate/bundle", {"dataset_id": "{id}", "base": STRATEGY_A_EXAMPLE, "grid": {}}),
]


@contextmanager
def statements() -> Iterator[list[tuple[str, int]]]:
    """Every statement sent through psycopg meanwhile (ids blanked), with the rows it returned."""
    sent: list[tuple[str, int]] = []
    execute = psycopg.AsyncCursor.execute

    async def recording(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        result = await execute(self, query, *args, **kwargs)
        text = query if isinstance(query, str) else repr(query)
        sent.append((_UUID.sub("<id>", " ".join(text.split())), self.rowcount))
        return result

    psycopg.AsyncCursor.execute = recording  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]


async def _request(client, caller, method: str, path: str, body: Any, the_id: str):
    url = path.replace("{id}", the_id)
    json = None if body is None else {k: (the_id if v == "{id}" else v) for k, v in body.items()}
    with statements() as sent:
        response = await client.request(method, url, json=json, headers=caller.headers)
    return response, sent


async def _assert_same_path(client, stranger, requests, owned_id: str) -> None:
    await client.get("/api/v1/me", headers=stranger.headers)  # the key is looked up and cached once
    for method, path, body in requests:
        foreign, foreign_sent = await _request(client, stranger, method, path, body, owned_id)
        missing, missing_sent = await _request(client, stranger, method, path, body, str(uuid.uuid4()))

        assert foreign.status_code == missing.status_code == 404, (path, foreign.text, missing.text)
        assert foreign.json()["detail"] == missing.json()["detail"].replace(_missing_id(missing), owned_id)
        assert foreign_sent == missing_sent, path
        assert all(rows <= 0 for _, rows in foreign_sent), (path, foreign_sent)


def _missing_id(response) -> str:
    found = _UUID.search(response.json()["detail"])
    assert found is not None
    return found.group(0)


async def test_another_users_backtest_costs_what_a_missing_one_costs(client, alice, bob, queue):
    dataset_id = await upload_dataset(client, alice.headers)
    job = (await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)).json()
    await run_jobs(queue)
    assert (await client.get(f"/api/v1/backtests/{job['id']}/trades.csv", headers=alice.headers)).status_code == 200

    await _assert_same_path(client, bob, JOB_REQUESTS, job["id"])


async def test_another_users_bundle_costs_what_a_missing_one_costs(client, alice, bob):
    dataset_id = await upload_dataset(client, alice.headers)
    request = {"dataset_id": dataset_id, "base": STRATEGY_A_EXAMPLE, "grid": {"costs.fee_bps": [1, 2]}}
    bundle = (await client.post("/api/v1/bundles", json=request, headers=alice.headers)).json()

    await _assert_same_path(client, bob, BUNDLE_REQUESTS, bundle["id"])


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "after-the-owner-used-it"])
async def test_another_users_dataset_costs_what_a_missing_one_costs(client, alice, bob, warm):
    dataset_id = await upload_dataset(client, alice.headers)
    if warm:  # the owner's submit fills this process's dataset cache
        submitted = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=alice.headers)
        assert submitted.status_code == 202

    await _assert_same_path(client, bob, DATASET_REQUESTS, dataset_id)
