"""``/api/v1/me``: who the key belongs to and their limits."""

from __future__ import annotations

from litestar import Controller
from litestar import get

from backtest_api.accounts.schemas import Me
from backtest_api.backtests.services import max_pending
from backtest_api.core.dependencies import CurrentUser
from backtest_api.core.dependencies import ServicesDep


class AccountController(Controller):
    path = "/api/v1/me"
    tags = ["accounts"]

    @get("/", operation_id="getMe", summary="The caller's user, role and pending-jobs limit")
    async def me(self, services: ServicesDep, user: CurrentUser) -> Me:
        return Me(id=user.id, name=user.name, role=user.role, max_pending_jobs=max_pending(services, user))
