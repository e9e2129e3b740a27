"""What an upload request carries, and where in the file a bad row is.

Users reach for ``curl -F file=@bars.csv`` (multipart/form-data) as often as
for ``--data-binary``, so the file is taken out of a multipart envelope before
it reaches the CSV parser, which would otherwise fail on the envelope with a
tokenizer error. The engine names a bad cell by data row (``data.high[17]``);
an editor shows file lines, so the line is added. Re-uploading the same bars
is answered with the dataset that already holds them instead of a second copy.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Request
from litestar.datastructures import UploadFile
from psycopg_pool import AsyncConnectionPool

from backtest_api.core.errors import InvalidRequestError
from backtest_shared.engine import EngineValidationError

_ROW_FIELD = re.compile(r"^data\.[A-Za-z_]+\[(\d+)\]$")
FIND_IDENTICAL = """
SELECT id FROM datasets WHERE owner_id = %(owner_id)s AND content_hash = %(content_hash)s
 ORDER BY created_at, id LIMIT 1
"""


async def received_file(request: Request[Any, Any, Any], body: bytes) -> tuple[bytes, str | None, str | None]:
    """(file bytes, file name, content type): the raw body, or the ``file`` part of a multipart form."""
    content_type = request.headers.get("content-type")
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        return body, None, content_type
    form = await request.form()
    parts = [form.get("file"), *form.values()]
    upload = next((part for part in parts if isinstance(part, UploadFile)), None)
    if upload is None:
        raise InvalidRequestError("file", "a multipart upload needs a file part, e.g. curl -F file=@bars.csv")
    return await upload.read(), upload.filename or None, upload.content_type


def file_line(body: bytes, row: int) -> int | None:
    """The 1-based line of data row ``row`` in a CSV whose first non-blank line is the header.

    pandas skips blank lines, so they are skipped here too.
    """
    seen = -1
    for number, line in enumerate(body.splitlines(), start=1):
        if line.strip():
            if seen == row:
                return number
            seen += 1
    return None


def with_line(error: EngineValidationError, body: bytes) -> EngineValidationError:
    """The same error, its reason naming the file line of the row (CSV only)."""
    match = _ROW_FIELD.match(error.field)
    line = file_line(body, int(match.group(1))) if match else None
    if line is None:
        return error
    return EngineValidationError(error.field, f"{error.reason} (line {line} of the file)")


async def identical_dataset(pool: AsyncConnectionPool[Any], owner_id: uuid.UUID, content_hash: str) -> uuid.UUID | None:
    """The caller's dataset that already holds exactly these bars, if any."""
    async with pool.connection() as conn:
        cur = await conn.execute(FIND_IDENTICAL, {"owner_id": owner_id, "content_hash": content_hash})
        row = await cur.fetchone()
    return None if row is None else uuid.UUID(str(row[0]))
