"""Creating and reading users."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg_pool import AsyncConnectionPool

CREATE_USER = """
INSERT INTO users (id, name, role, max_running_jobs, max_pending_jobs)
VALUES (%(id)s, %(name)s, %(role)s, %(max_running_jobs)s, %(max_pending_jobs)s)
"""


async def create_user(
    pool: AsyncConnectionPool[Any],
    name: str,
    *,
    role: str = "user",
    max_running_jobs: int | None = None,
    max_pending_jobs: int | None = None,
) -> uuid.UUID:
    user_id = uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute(
            CREATE_USER,
            {
                "id": user_id,
                "name": name,
                "role": role,
                "max_running_jobs": max_running_jobs,
                "max_pending_jobs": max_pending_jobs,
            },
        )
    return user_id
