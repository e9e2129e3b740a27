"""Schemathesis against the OpenAPI document, with every check it has: no server error, and every
answer's status, content type, headers and body as the document says.

Two phases: each operation on its own (generated requests), and the stateful phase, which
follows the document's links (upload -> read, prices, delete; submit -> read, cancel, exports).
Its chains start from a real upload and real submits, since random bytes are rarely bars.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings
from hypothesis.stateful import initialize
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import ALL_CHECKS
from schemathesis.stateful.state_machine import StepResult

from api_tests.conftest import make_caller
from api_tests.helpers import csv_bytes
from api_tests.helpers import free_port
from backtest_api.app import create_app
from backtest_api.settings import Settings
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import synthetic_ohlcv

FUZZ_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
}


@pytest.fixture
def served_api(database_url):
    settings = Settings(database_url=database_url, max_wait_seconds=0.5, pool_min_size=1, pool_max_size=4)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def api_schema(served_api, database_url):
    caller = make_caller(database_url, "fuzzer")
    schema = schemathesis.from_dict(httpx.get(f"{served_api}/docs/openapi.json").json(), base_url=served_api)
    schema.auth_headers = caller.headers  # type: ignore[attr-defined]
    return schema


schemathesis.experimental.OPEN_API_3_1.enable()  # Litestar publishes OpenAPI 3.1
schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(max_examples=25, phases=[Phase.explicit, Phase.generate], **FUZZ_SETTINGS)
def test_every_answer_is_what_the_document_says(case, api_schema):
    # In the case's own headers: the ignored-auth check re-sends the case without them.
    case.headers = {**(case.headers or {}), **api_schema.auth_headers}
    response = case.call(timeout=30)

    case.validate_response(response, checks=ALL_CHECKS)


def _seeded_workflow(api_schema: Any) -> Any:
    """The document's state machine, started from a real dataset, backtest and bundle."""
    workflow = api_schema.as_state_machine()
    auth = api_schema.auth_headers

    def seed(operation: tuple[str, str], **request: Any) -> StepResult:
        case = api_schema[operation[0]][operation[1]].make_case(**request)
        case.headers = {**(case.headers or {}), **auth}
        response = case.call(timeout=30)
        assert response.status_code in (200, 201, 202), response.text
        return StepResult(response, case, 0.0)

    def uploaded_dataset_id() -> str:
        response: Any = upload().response
        return str(response.json()["id"])

    def upload() -> StepResult:
        bars = csv_bytes(synthetic_ohlcv(300, seed=7))
        query = {"name": "seed", "format": "csv"}
        return seed(("/api/v1/datasets", "POST"), body=bars, media_type="application/octet-stream", query=query)

    class SeededWorkflow(workflow):  # type: ignore[misc, valid-type]
        @initialize(target=workflow.bundles["POST /api/v1/datasets -> 201"])
        def a_dataset(self) -> StepResult:
            return upload()

        @initialize(target=workflow.bundles["POST /api/v1/backtests -> 202"])
        def a_backtest(self) -> StepResult:
            dataset_id = uploaded_dataset_id()
            body = {"dataset_id": dataset_id, "strategy": STRATEGY_A_EXAMPLE}
            return seed(("/api/v1/backtests", "POST"), body=body, media_type="application/json")

        @initialize(target=workflow.bundles["POST /api/v1/bundles -> 202"])
        def a_bundle(self) -> StepResult:
            dataset_id = uploaded_dataset_id()
            body = {"dataset_id": dataset_id, "base": STRATEGY_A_EXAMPLE, "grid": {"costs.fee_bps": [1, 2]}}
            return seed(("/api/v1/bundles", "POST"), body=body, media_type="application/json")

        def before_call(self, case: Any) -> None:
            case.headers = {**(case.headers or {}), **auth}

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"timeout": 30}

        def validate_response(self, response: Any, case: Any, additional_checks: tuple = ()) -> None:
            case.validate_response(response, checks=ALL_CHECKS)

    return SeededWorkflow


def test_following_the_documents_links_every_answer_is_what_it_says(api_schema):
    workflow = _seeded_workflow(api_schema)
    links = [name for name in workflow.bundles if "->" in name]
    assert {"POST /api/v1/datasets -> 201", "POST /api/v1/backtests -> 202", "POST /api/v1/bundles -> 202"} <= set(
        links
    )

    run_state_machine_as_test(
        workflow,
        settings=hypothesis_settings(max_examples=30, stateful_step_count=8, **FUZZ_SETTINGS),
    )
