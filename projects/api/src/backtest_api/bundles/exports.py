"""A bundle's results as CSV: every succeeded backtest, ranked, one column per parameter and metric.

The JSON ranking is paged by ``top`` for dashboards; a quant wants the whole
sweep in a spreadsheet or ``pandas.read_csv`` at once.
"""

from __future__ import annotations

import csv
import io

from backtest_api.bundles import repository
from backtest_api.bundles.repository import BundleRow
from backtest_api.bundles.services import parameters
from backtest_api.core.errors import InvalidRequestError
from backtest_api.core.state import Services
from backtest_shared.engine import RANKABLE_METRICS
from backtest_shared.engine.metrics import METRIC_NAMES


def _parameter_columns(bundle: BundleRow) -> list[str]:
    grid = bundle.request.get("grid") or {}
    return list(grid) if grid else ["name"]


async def results_csv(services: Services, bundle: BundleRow, metric: str) -> str:
    """``rank, backtest_id, <parameters...>, <metrics...>``, best first by ``metric``."""
    if metric not in RANKABLE_METRICS:
        choices = ", ".join(sorted(RANKABLE_METRICS))
        raise InvalidRequestError("rank_by", f"unknown metric {metric!r}; choose one of: {choices}")
    rows = await repository.ranked(services.pool, bundle.id, metric, max(bundle.total_jobs, 1))
    params = _parameter_columns(bundle)
    extra = sorted({key for _, _, metrics in rows for key in metrics} - set(METRIC_NAMES))
    metric_columns = [*METRIC_NAMES, *extra]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["rank", "backtest_id", *params, *metric_columns])
    for rank, (job_id, strategy, metrics) in enumerate(rows, start=1):
        values = parameters(bundle, strategy)
        writer.writerow([rank, job_id, *(values.get(p) for p in params), *(metrics.get(m) for m in metric_columns)])
    return out.getvalue()
