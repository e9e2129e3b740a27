"""CSV exports with ISO-8601 times, multipart uploads, file lines in CSV errors, identical re-uploads, SSE framing."""

from __future__ import annotations

import csv
import io

import pytest

from api_tests.helpers import backtest_request
from api_tests.helpers import csv_bytes
from api_tests.helpers import run_jobs
from api_tests.helpers import upload_dataset
from backtest_shared.engine import synthetic_ohlcv


async def _succeeded_backtest(client, caller, queue) -> str:
    dataset_id = await upload_dataset(client, caller.headers)
    submitted = await client.post("/api/v1/backtests", json=backtest_request(dataset_id), headers=caller.headers)
    await run_jobs(queue)
    return str(submitted.json()["id"])


async def test_trades_csv_times_are_iso_8601(client, alice, queue):
    backtest_id = await _succeeded_backtest(client, alice, queue)

    response = await client.get(f"/api/v1/backtests/{backtest_id}/trades.csv", headers=alice.headers)

    row = next(csv.DictReader(io.StringIO(response.text)))
    assert row["entry_time"] == "1970-01-01T00:00:01Z"
    assert row["exit_time"] == "1970-01-01T00:00:02Z"


async def test_equity_csv_has_iso_times_equity_and_drawdown(client, alice, queue):
    backtest_id = await _succeeded_backtest(client, alice, queue)

    response = await client.get(f"/api/v1/backtests/{backtest_id}/equity.csv", headers=alice.headers)

    assert response.status_code == 200
    assert list(csv.reader(io.StringIO(response.text))) == [
        ["timestamp", "equity", "drawdown"],
        ["1970-01-01T00:00:01Z", "10000.0", "0.0"],
        ["1970-01-01T00:00:02Z", "10100.0", "0.0"],
    ]


async def test_a_result_shows_buy_and_hold_beside_the_strategy(client, alice, queue):
    backtest_id = await _succeeded_backtest(client, alice, queue)

    metrics = (await client.get(f"/api/v1/backtests/{backtest_id}", headers=alice.headers)).json()["result"]["metrics"]

    bars = synthetic_ohlcv(300, seed=1)
    assert metrics["buy_and_hold_return"] == pytest.approx(float(bars.close[-1] / bars.close[0] - 1.0))


async def test_a_multipart_upload_is_accepted_and_named_after_its_file(client, alice):
    body = csv_bytes(synthetic_ohlcv(50, seed=3))

    response = await client.post(
        "/api/v1/datasets", files={"file": ("btc-1h.csv", body, "text/csv")}, headers=alice.headers
    )

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "btc-1h.csv"
    assert response.json()["n_bars"] == 50


async def test_a_bad_csv_row_is_named_by_row_and_file_line(client, alice):
    lines = csv_bytes(synthetic_ohlcv(10, seed=3)).decode().splitlines()
    lines[4] = lines[4].rsplit(",", 2)[0] + ",oops," + lines[4].rsplit(",", 1)[1]
    body = ("\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n").encode()  # a blank line pandas skips

    response = await client.post(
        "/api/v1/datasets", params={"name": "bad"}, content=body, headers={**alice.headers, "Content-Type": "text/csv"}
    )

    assert response.status_code == 400
    assert response.json()["field"] == "data.close[3]"
    assert "line 6 of the file" in response.json()["reason"]


async def test_uploading_identical_bars_again_answers_with_the_dataset_that_holds_them(client, alice, bob):
    first = await upload_dataset(client, alice.headers, seed=9)

    again = await client.post(
        "/api/v1/datasets",
        params={"name": "copy"},
        content=csv_bytes(synthetic_ohlcv(300, seed=9)),
        headers={**alice.headers, "Content-Type": "text/csv"},
    )
    other_user = await upload_dataset(client, bob.headers, seed=9)

    assert again.status_code == 200
    assert again.json()["id"] == first
    assert again.json()["existing"] is True
    assert other_user != first
    listed = (await client.get("/api/v1/datasets", headers=alice.headers)).json()["items"]
    assert [d["id"] for d in listed] == [first]


async def test_progress_events_each_carry_one_event_line_and_data(client, alice, queue):
    backtest_id = await _succeeded_backtest(client, alice, queue)

    response = await client.get(f"/api/v1/backtests/{backtest_id}/events", headers=alice.headers)

    events = [e for e in response.text.replace("\r\n", "\n").split("\n\n") if e.strip()]
    assert len(events) == 1
    assert events[0].splitlines()[0] == "event: progress"
    assert events[0].splitlines()[1].startswith("data: {")
    assert len(events[0].splitlines()) == 2
