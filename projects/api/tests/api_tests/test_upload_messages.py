"""Upload errors in the user's words: the row they wrote, plain numbers, no library internals."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

HEADER = "timestamp,open,high,low,close,volume\n"
INTERNALS = ("np.float64", "numpy", "thrift", "arrow", "snappy", "codec", "tokeniz", "C error", "Error:", "exception")


def _csv(rows: int = 20, **cells: tuple[int, str]) -> bytes:
    """``rows`` valid bars; ``cells`` replaces one column's value at one row: name=(row, text)."""
    lines = [HEADER]
    for i in range(rows):
        row = {"timestamp": str(1_700_000_000 + 60 * i), "open": "10", "high": "11", "low": "9", "close": "10"}
        row["volume"] = "100"
        for name, (at, text) in cells.items():
            if at == i:
                row[name] = text
        lines.append(",".join(row.values()) + "\n")
    return "".join(lines).encode()


def _parquet(timestamps: list[int]) -> bytes:
    n = len(timestamps)
    table = pa.table(
        {
            "timestamp": pa.array(timestamps, pa.uint64()),
            **{name: [10.0] * n for name in ("open", "close", "volume")},
            "high": [11.0] * n,
            "low": [9.0] * n,
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


async def _upload(client, headers, body: bytes, content_type: str = "text/csv", **params: str):
    return await client.post(
        "/api/v1/datasets",
        params={"name": "bars", **params},
        content=body,
        headers={**headers, "Content-Type": content_type},
    )


def _problem(response) -> dict:
    assert response.status_code == 400, response.text
    problem = response.json()
    assert not any(word.lower() in problem["detail"].lower() for word in INTERNALS), problem["detail"]
    return problem


async def test_an_infinite_price_is_written_as_a_number_not_a_numpy_repr(client, alice):
    problem = _problem(await _upload(client, alice.headers, _csv(high=(5, "inf"))))

    assert problem["field"] == "data.high[5]"
    assert "value inf is not a finite number" in problem["detail"]


@pytest.mark.parametrize("row", [1, 10, 19])
async def test_a_bad_epoch_timestamp_is_blamed_on_its_own_row(client, alice, row):
    problem = _problem(await _upload(client, alice.headers, _csv(timestamp=(row, "garbage"))))

    assert problem["field"] == f"data.timestamp[{row}]"
    assert "'garbage'" in problem["detail"]
    assert f"line {row + 2} of the file" in problem["detail"]


async def test_one_wild_epoch_number_is_blamed_on_its_row_not_on_the_unit_of_every_row(client, alice):
    problem = _problem(await _upload(client, alice.headers, _csv(timestamp=(10, "1700000000000000000000"))))

    assert problem["field"] == "data.timestamp[10]"


@pytest.mark.parametrize("wild", [2**63, 2**63 + 5, 2**64 - 1])
async def test_unsigned_parquet_timestamps_beyond_int64_are_refused_not_wrapped(client, alice, wild):
    timestamps = [1_700_000_000 + 60 * i for i in range(5)]
    timestamps[3] = wild
    problem = _problem(
        await _upload(client, alice.headers, _parquet(timestamps), "application/octet-stream", format="parquet")
    )

    assert problem["field"] == "data.timestamp[3]"
    assert str(wild) in problem["detail"] and "out of range" in problem["detail"]


async def test_a_single_unsigned_parquet_timestamp_of_2_64_minus_1_is_not_read_as_minus_one(client, alice):
    response = await _upload(client, alice.headers, _parquet([2**64 - 1]), "application/octet-stream", format="parquet")

    assert _problem(response)["field"] == "data.timestamp[0]"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (HEADER.encode() + b"1700000000,1,1,1,1,1\n1700000060,1,1,1,1,1,7\n", "line 3 has 7 fields"),
        (HEADER.encode() + b"1700000000,1\xe9,1,1,1,1\n", "line 2 is not UTF-8"),
        (HEADER.encode() + b'"1700000000,1,1,1,1,1\n', "never closed"),
    ],
)
async def test_csv_files_the_parser_refuses_are_explained_by_line(client, alice, body, words):
    problem = _problem(await _upload(client, alice.headers, body))

    assert problem["field"] == "data"
    assert words in problem["detail"]


async def test_a_damaged_parquet_file_is_explained_without_its_codec(client, alice):
    good = _parquet([1_700_000_000 + 60 * i for i in range(50)])
    damaged = good[:8] + bytes(len(good) - 16) + good[-8:]
    problem = _problem(await _upload(client, alice.headers, damaged, "application/octet-stream", format="parquet"))

    assert problem["field"] == "data" and "Parquet" in problem["detail"]


async def test_a_truncated_parquet_file_is_called_truncated(client, alice):
    good = _parquet([1_700_000_000 + 60 * i for i in range(50)])
    problem = _problem(
        await _upload(client, alice.headers, good[: len(good) // 2], "application/octet-stream", format="parquet")
    )

    assert "truncated" in problem["detail"]


@pytest.mark.parametrize("content_type", ["text/csv", "application/octet-stream"])
async def test_an_empty_upload_says_the_file_is_empty_not_body_data(client, alice, content_type):
    problem = _problem(await _upload(client, alice.headers, b"", content_type))

    assert "empty" in problem["detail"]
    assert "body: 'data'" not in problem["detail"] and "'data'" not in problem["detail"]
