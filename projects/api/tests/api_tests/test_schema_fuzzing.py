"""Schemathesis against the OpenAPI document, with every check it has: no server error, and every
answer's status, content type, headers and body as the document says."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import ALL_CHECKS

from api_tests import hypothesis_compat
from api_tests.conftest import make_caller
from api_tests.helpers import free_port
from backtest_api.app import create_app
from backtest_api.settings import Settings


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


hypothesis_compat.install()
schemathesis.experimental.OPEN_API_3_1.enable()  # Litestar publishes OpenAPI 3.1
schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(
    max_examples=25,
    # The explicit phase (schema examples) trips over this hypothesis version inside schemathesis 3.39.
    phases=[Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_every_answer_is_what_the_document_says(case, api_schema):
    # In the case's own headers: the ignored-auth check re-sends the case without them.
    case.headers = {**(case.headers or {}), **api_schema.auth_headers}
    response = case.call(timeout=30)

    case.validate_response(response, checks=ALL_CHECKS)
