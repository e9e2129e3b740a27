"""Who is calling: the identity every layer scopes its reads and writes by."""

from __future__ import annotations

import uuid

import msgspec


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated caller (``request.user``)."""

    id: uuid.UUID
    name: str
    role: str
    max_pending_jobs: int | None
    key_hash: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def owner_filter(self) -> uuid.UUID | None:
        """The owner to restrict reads to: none for admins, who see everything."""
        return None if self.is_admin else self.id
