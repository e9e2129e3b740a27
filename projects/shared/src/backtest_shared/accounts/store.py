"""Creating and reading users."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg_pool import AsyncConnectionPool

CREATE_USER = """
INSERT INTO users (id, name, role, max_running_jobs, max_pending_jobs)
VALUES (%(id)s, %(name)s, %(role)s, %(max_running_jobs)s, %(max_pending_jobs)s)
"""


def new_user(
    name: str,
    *,
    role: str = "user",
    max_running_jobs: int | None = None,
    max_pending_jobs: int | None = None,
) -> dict[str, Any]:
    """Parameters of ``CREATE_USER`` for a new user with a fresh id."""
    return {
        "id": uuid.uuid4(),
        "name": name,
        "role": role,
        "max_running_jobs": max_running_jobs,
        "max_pending_jobs": max_pending_jobs,
    }


async def create_user(
    pool: AsyncConnectionPool[Any],
    name: str,
    *,
    role: str = "user",
    max_running_jobs: int | None = None,
    max_pending_jobs: int | None = None,
) -> uuid.UUID:
    user = new_user(name, role=role, max_running_jobs=max_running_jobs, max_pending_jobs=max_pending_jobs)
    async with pool.connection() as conn:
        await conn.execute(CREATE_USER, user)
    user_id: uuid.UUID = user["id"]
    return user_id
