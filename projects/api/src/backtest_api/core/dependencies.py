"""Dependencies every controller can ask for by name: ``services`` and ``user``."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.di import Provide

from backtest_api.core.principal import Principal
from backtest_api.core.state import Services
from backtest_api.core.state import provide_services


def provide_user(request: Request[Principal, Any, Any], services: NamedDependency[Services]) -> Principal:
    """The authenticated caller.

    It names ``services`` only so that Litestar resolves the two one after the
    other: dependencies of one level are resolved concurrently in an anyio task
    group, whose overhead on every request far exceeds two attribute lookups.
    """
    return request.user


DEPENDENCIES = {
    "services": Provide(provide_services, sync_to_thread=False),
    "user": Provide(provide_user, sync_to_thread=False),
}

#: Handler parameter types naming the dependencies above.
ServicesDep = NamedDependency[Services]
CurrentUser = NamedDependency[Principal]
