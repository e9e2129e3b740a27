"""``/api/v1/workers``: the compute workers of the last day and what they run."""

from __future__ import annotations

from litestar import Controller
from litestar import get

from backtest_api.core.auth import require_admin
from backtest_api.core.dependencies import ServicesDep
from backtest_api.workers import services as workers
from backtest_api.workers.schemas import WorkerList


class WorkerController(Controller):
    path = "/api/v1/workers"
    tags = ["operations"]
    #: Host names, process ids and every tenant's running jobs: for operators only.
    guards = [require_admin]

    @get("/", operation_id="listWorkers", summary="Compute workers (alive, dead or stopped in the last day; operators)")
    async def list_workers(self, services: ServicesDep) -> WorkerList:
        return WorkerList(items=await workers.list_workers(services))
