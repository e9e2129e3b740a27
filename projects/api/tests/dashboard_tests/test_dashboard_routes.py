"""The dashboard's files, the offline docs and the two dashboard endpoints, without a browser."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backtest_api.accounts.repository import create_user
from backtest_api.accounts.repository import issue_key
from backtest_api.app import create_app
from backtest_api.dashboard.web import STATIC_DIR
from backtest_api.settings import Settings
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.engine.examples import RSI_BOTH_EXAMPLE

Client = AsyncTestClient[Litestar]


@pytest_asyncio.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    settings = Settings(database_url=database_url, pool_min_size=1, pool_max_size=4)
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def headers(database_url: str) -> dict[str, str]:
    create_user(database_url, "erin")
    return {"Authorization": f"Bearer {issue_key(database_url, 'erin')}"}


def _csv(n_bars: int) -> bytes:
    data = synthetic_ohlcv(n_bars, seed=5)
    out = io.StringIO()
    out.write("timestamp,open,high,low,close,volume\n")
    for row in zip(data.timestamps, data.open, data.high, data.low, data.close, data.volume, strict=True):
        out.write(",".join(repr(x.item()) for x in row) + "\n")
    return out.getvalue().encode()


async def _dataset(client: Client, headers: dict[str, str], n_bars: int = 400) -> str:
    answer = await client.post(
        "/api/v1/datasets", params={"name": "d"}, content=_csv(n_bars), headers={**headers, "Content-Type": "text/csv"}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_the_page_and_its_files_need_no_key(client: Client) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for path in re.findall(r'(?:src|href)="(/ui/[^"]+)"', page.text):
        assert (await client.get(path)).status_code == 200, path
    module = await client.get("/ui/js/app.js")
    assert "javascript" in module.headers["content-type"]
    assert (await client.get("/ui/js/nope.js")).status_code == 404
    assert (await client.get("/api/v1/me")).status_code == 401  # the API itself still needs one


async def test_the_docs_load_only_files_the_api_serves(client: Client) -> None:
    for path in ("/docs", "/docs/redoc"):
        page = await client.get(path)
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert urls, path
        for url in urls:
            assert url.startswith("/ui/"), f"{path} loads {url}"
            assert (await client.get(url)).status_code == 200, url
        assert "Content-Security-Policy" in page.text


def test_every_vendored_file_is_pinned_and_every_reference_is_vendored() -> None:
    manifest = json.loads((STATIC_DIR / "vendor" / "manifest.json").read_text())
    pinned = {
        f"/ui/vendor/{package}/{pin['version']}/{Path(name).name}"
        for package, pin in manifest.items()
        for name in pin["files"]
    }
    on_disk = {f"/ui/{p.relative_to(STATIC_DIR).as_posix()}" for p in (STATIC_DIR / "vendor").rglob("*") if p.is_file()}
    assert on_disk - {"/ui/vendor/manifest.json"} == pinned
    for package in manifest:
        assert any("LICENSE" in url for url in pinned if f"/vendor/{package}/" in url), package
    for source in STATIC_DIR.rglob("*"):
        if source.suffix in {".html", ".js", ".css"} and "vendor" not in source.parts:
            for url in re.findall(r"/ui/vendor/[^'\"\s)]+", source.read_text()):
                assert url in pinned, f"{source.name} refers to {url}, which is not vendored"


def test_the_editor_examples_are_the_engine_examples() -> None:
    examples = json.loads((STATIC_DIR / "examples.json").read_text())
    assert list(examples["strategies"].values()) == [STRATEGY_A_EXAMPLE, STRATEGY_B_EXAMPLE, RSI_BOTH_EXAMPLE]
    assert examples["grids"].keys() == examples["strategies"].keys()


async def test_validation_is_a_dry_run_of_a_submit(client: Client, headers: dict[str, str]) -> None:
    dataset_id = await _dataset(client, headers)
    ok = await client.post(
        "/api/v1/validate/backtest", json={"dataset_id": dataset_id, "strategy": STRATEGY_A_EXAMPLE}, headers=headers
    )
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"valid": True, "total_jobs": 1}
    indicators = {**STRATEGY_A_EXAMPLE["indicators"], "fast": {"kind": "sma", "period": 0}}
    bad = {**STRATEGY_A_EXAMPLE, "indicators": indicators}
    refused = await client.post(
        "/api/v1/validate/backtest", json={"dataset_id": dataset_id, "strategy": bad}, headers=headers
    )
    assert refused.status_code == 400
    assert refused.json()["field"] == "strategy.indicators.fast.period"
    grid = {"indicators.fast.period": [5, 10], "indicators.slow.period": [40, 60, 80]}
    sweep = await client.post(
        "/api/v1/validate/bundle",
        json={"dataset_id": dataset_id, "base": STRATEGY_A_EXAMPLE, "grid": grid},
        headers=headers,
    )
    assert sweep.status_code == 200, sweep.text
    assert sweep.json()["total_jobs"] == 6
    listed = await client.get("/api/v1/backtests", headers=headers)
    assert listed.json()["items"] == []  # nothing was queued


async def test_prices_are_thinned_for_charts(client: Client, headers: dict[str, str]) -> None:
    dataset_id = await _dataset(client, headers, n_bars=1000)
    full = (await client.get(f"/api/v1/datasets/{dataset_id}/prices", headers=headers)).json()
    assert full["n_bars"] == 1000
    assert len(full["timestamps"]) == len(full["close"]) == 1000
    thin = (await client.get(f"/api/v1/datasets/{dataset_id}/prices?max_points=100", headers=headers)).json()
    assert len(thin["close"]) <= 100
    assert thin["timestamps"] == sorted(thin["timestamps"])
    assert max(thin["close"]) == max(full["close"])
    assert (await client.get(f"/api/v1/datasets/{dataset_id}/prices")).status_code == 401
