"""The dashboard in a real headless Chromium against the real API, a real worker and PostgreSQL.

The happy path a user takes: sign in, drop a CSV on the datasets page, write a
strategy (seeing the validation error as they type), watch the backtest finish
and its charts appear, run a sweep and read its ranked table and heatmap, cancel
a big sweep, and look at the runs, the operator view and the offline API docs.
Screenshots of each step go to ``$DASHBOARD_SCREENSHOTS_DIR`` (CI keeps them).
Skipped, saying why, where no Chromium is installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backtest_api.accounts.repository import create_user
from backtest_api.accounts.repository import issue_key
from backtest_shared.engine import synthetic_ohlcv
from dashboard_tests.cdp import Browser
from dashboard_tests.cdp import find_chromium

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium installed (apt-get install chromium; .ci/run installs it)"
)


def _start(args: list[str], database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BACKTEST_DATABASE_URL": database_url, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen([sys.executable, "-m", *args], env=env)


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Platform:
    """The API and one compute worker as real processes on a fresh database."""

    def __init__(self, database_url: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.api = _start(["backtest_api.cli", "serve", "--port", str(self.port)], database_url)
        self.worker: subprocess.Popen[bytes] | None = _start(
            ["backtest_compute.cli", "--concurrency", "1", "--name", "browser-worker"], database_url
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 90
        while True:
            assert self.api.poll() is None, "the API died while starting"
            try:
                if httpx.get(f"{self.base}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not become ready"
            time.sleep(0.2)

    def stop_worker(self) -> None:
        """Stop the worker (gracefully): jobs submitted afterwards stay pending."""
        if self.worker is not None:
            assert _stop(self.worker) == 0
            self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        _stop(self.api)


@pytest.fixture
def platform(database_url: str) -> Iterator[Platform]:
    running = Platform(database_url)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("DASHBOARD_SCREENSHOTS_DIR") or tmp_path / "screenshots")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    assert CHROMIUM is not None
    chromium = Browser(CHROMIUM, tmp_path / "profile")
    try:
        yield chromium
    finally:
        chromium.close()


def _csv(path: Path, n_bars: int) -> Path:
    data = synthetic_ohlcv(n_bars, seed=11)
    rows = zip(data.timestamps, data.open, data.high, data.low, data.close, data.volume, strict=True)
    lines = ["timestamp,open,high,low,close,volume", *(",".join(repr(x.item()) for x in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


#: The editor's last check passed and Submit is enabled.
READY = (
    "document.querySelector('#validation').innerText.includes('Valid') && !document.querySelector('#submit').disabled"
)


#: The sweep page shows a final status and no cancel button.
SWEEP_OVER = (
    "['finished', 'succeeded', 'cancelled', 'failed'].includes(document.querySelector('#bundle-status')?.innerText)"
    " && !document.querySelector('#cancel')"
)


def _has(selector: str) -> str:
    return f"!!document.querySelector({json.dumps(selector)})"


def test_the_dashboard_happy_path(
    platform: Platform, database_url: str, browser: Browser, shots: Path, tmp_path: Path
) -> None:
    create_user(database_url, "dana", role="admin")
    try:
        _walk(browser, platform, issue_key(database_url, "dana"), shots, tmp_path)
    except Exception:
        browser.screenshot(shots / "failure.png")  # what the page showed when it failed
        raise


def _walk(b: Browser, running: Platform, key: str, shots: Path, tmp_path: Path) -> None:
    platform = running.base
    # Sign in: a wrong key is refused, the right one lands on the runs list.
    b.goto(f"{platform}/")
    b.wait_for(_has("#signin-form"), "the sign-in form")
    b.type("#api-key", "bt_not-a-key")
    b.click("#signin-form button[type=submit]")
    b.wait_for("document.querySelector('#signin-error').innerText.includes('not accepted')", "the refusal")
    b.screenshot(shots / "01-signin.png")
    b.type("#api-key", key)
    b.click("#signin-form button[type=submit]")
    b.wait_for(f"location.hash === '#/runs' && {_has('#runs')}", "the runs view")
    assert "dana (admin)" in b.text("#who")

    # Datasets: drop a CSV on the drop zone.
    b.click("#nav a[href='#/datasets']")
    b.wait_for(_has("#dropzone"), "the drop zone")
    b.drop_files("#dropzone", [_csv(tmp_path / "eurusd-hourly.csv", 3000)])
    b.wait_for("document.querySelector('#upload-status').innerText.includes('Uploaded')", "the upload")
    b.wait_for("document.querySelector('#datasets-table')?.innerText.includes('eurusd-hourly')", "the new dataset")
    assert "3,000 bars" in b.text("#upload-status")
    b.screenshot(shots / "02-datasets.png")

    # New backtest: the editor is checked as one types.
    b.goto(f"{platform}/#/new")
    b.wait_for("document.querySelector('#validation')?.innerText.includes('Valid: 1 backtest')", "a valid example")
    strategy = json.loads(b.evaluate("document.querySelector('#strategy').value"))
    strategy["indicators"]["fast"]["period"] = 0
    b.type("#strategy", json.dumps(strategy, indent=2))
    b.wait_for("document.querySelector('#validation').innerText.includes('indicators.fast.period')", "the error")
    assert b.evaluate("document.querySelector('#submit').disabled") is True
    b.screenshot(shots / "03-validation-error.png")
    strategy["indicators"]["fast"]["period"] = 10
    b.type("#strategy", json.dumps(strategy, indent=2))
    b.wait_for(READY, "valid again")
    b.click("#submit")

    # The backtest finishes; metrics, equity, drawdown and the price chart with trades appear.
    b.wait_for("location.hash.startsWith('#/backtests/')", "the backtest view")
    b.wait_for(_has("#price-chart canvas"), "the charts", timeout=90)
    assert b.text(".detail-head .badge") == "succeeded"
    for chart in ("#equity-chart", "#drawdown-chart", "#price-chart"):
        assert b.evaluate(f"document.querySelector('{chart} canvas').width > 300"), chart
    assert int(b.evaluate("document.querySelector('#price-chart').dataset.points")) == 3000
    trades = int(b.text("[data-metric=num_trades] dd").replace(",", ""))
    assert trades > 0
    assert b.evaluate("document.querySelectorAll('#trades tbody tr').length") == min(trades, 200)
    b.screenshot(shots / "04-backtest.png")

    # A 4 x 3 sweep: live progress, then the ranked table and the heatmap.
    b.goto(f"{platform}/#/new?mode=bundle")
    b.wait_for("document.querySelector('#validation')?.innerText.includes('Valid: 12 backtests')", "a valid sweep")
    b.type("#bundle-name", "sma grid")
    b.wait_for(READY, "the sweep checked again")
    b.click("#submit")
    b.wait_for("location.hash.startsWith('#/bundles/')", "the sweep view")
    b.wait_for(f"{SWEEP_OVER} && document.querySelectorAll('#ranked-table tbody tr').length === 12", "the sweep", 120)
    b.wait_for(_has("canvas#heatmap"), "the heatmap")
    assert b.text("#ranked-table tbody tr:first-child td:first-child") == "1"
    assert "indicators.fast.period" in b.text("#ranked-table thead")
    b.screenshot(shots / "05-sweep.png")

    # Operator view: the worker and the queue.
    b.click("#nav a[href='#/ops']")
    b.wait_for("document.querySelector('#workers-table')?.innerText.includes('browser-worker')", "the worker")
    assert "alive" in b.text("#workers-table")
    b.screenshot(shots / "06-operator.png")

    # A big sweep, cancelled from its page. The worker is stopped first, so that the jobs
    # are still pending when the button is pressed (it would otherwise race a fast worker).
    running.stop_worker()
    b.goto(f"{platform}/#/new?mode=bundle")
    b.wait_for("document.querySelector('#validation')?.innerText.includes('Valid')", "the sweep editor")
    big_grid = {"indicators.fast.period": list(range(2, 32)), "indicators.slow.period": list(range(101, 121))}
    b.type("#grid", json.dumps(big_grid))
    b.wait_for("document.querySelector('#validation').innerText.includes('600 backtests')", "a 600-job sweep")
    b.wait_for(READY, "the big sweep checked")
    b.click("#submit")
    b.wait_for(f"location.hash.startsWith('#/bundles/') && {_has('#cancel')}", "the cancel button")
    b.click("#cancel")
    b.wait_for("document.querySelector('.detail-head')?.textContent.includes('cancelled 600')", "cancelled jobs")
    b.wait_for(SWEEP_OVER, "the sweep's final status")
    b.screenshot(shots / "07-sweep-cancelled.png")

    # Runs: the list shows what happened.
    b.click("#nav a[href='#/runs']")
    b.wait_for("!!document.querySelector('#runs-table [data-status=succeeded]')", "succeeded runs")
    b.wait_for("document.querySelector('#bundles-table')?.textContent.includes('cancelled')", "the cancelled sweep")
    assert "sma grid" in b.text("#bundles-table")
    assert "12 succeeded" in b.text("#bundles-table")
    b.screenshot(shots / "08-runs.png")

    # The API docs render from files the API serves itself.
    b.goto(f"{platform}/docs")
    b.wait_for("document.querySelector('.swagger-ui .info .title')?.innerText.includes('Backtest platform')", "Swagger")
    b.screenshot(shots / "09-docs-swagger.png")
    b.goto(f"{platform}/docs/redoc")
    b.wait_for("document.querySelector('h1')?.innerText.includes('Backtest platform')", "Redoc")
    b.screenshot(shots / "10-docs-redoc.png")

    assert b.exceptions() == []
    foreign = [url for url in b.requested_urls() if not url.startswith((platform, "data:", "blob:", "about:"))]
    assert foreign == [], "the dashboard and the docs must load nothing from another host"
