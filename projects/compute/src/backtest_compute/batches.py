"""Which jobs a slot runs together: a bundle's children in batches, and how large.

A sweep is many children of one bundle on one dataset. Run one by one, each
would pay a round trip to be claimed and its own indicators; run as a batch,
one backtest process loads the data once and computes each distinct indicator
once (``child.IndicatorCache``), as the engine's own sweep does. How a slot
runs its jobs is ``slot_run``.
"""

from __future__ import annotations

import collections
import uuid

from backtest_compute.processes import TaskSpec
from backtest_compute.running import RunningJob
from backtest_shared.jobs.models import ClaimedJob

#: Batch size for a bundle not measured yet: small, so a slow sweep's first
#: batch stays short, and large enough to measure a fast one.
FIRST_BATCH = 4
#: Bundles whose speed the sizer remembers (least recently used go first).
REMEMBERED_BUNDLES = 1024


class BatchSizer:
    """How many children of a bundle one slot runs together.

    A batch is sized to run for about ``target_seconds``: the bundle's seconds
    per child, measured on its earlier batches here, divide the target; the
    result is kept between 1 and ``most``. So a fast sweep runs in batches of
    ``most`` and a slow one (long series, many indicators) in batches of a few,
    and no batch holds waiting jobs of its owner for long while other slots
    could take them. ``most`` = 1 turns batching off.
    """

    def __init__(self, most: int, target_seconds: float) -> None:
        self.most = most
        self.target_seconds = target_seconds
        self._seconds_per_child: collections.OrderedDict[uuid.UUID, float] = collections.OrderedDict()

    def size(self, job: ClaimedJob) -> int:
        """The batch size for ``job`` (itself included)."""
        if job.bundle_id is None or self.most <= 1:
            return 1
        per_child = self._seconds_per_child.get(job.bundle_id)
        if per_child is None:
            return min(self.most, FIRST_BATCH)
        self._seconds_per_child.move_to_end(job.bundle_id)
        return max(1, min(self.most, int(self.target_seconds / max(per_child, 1e-6))))

    def observe(self, bundle_id: uuid.UUID, seconds: float) -> None:
        """One child of the bundle ran for ``seconds`` (a moving average smooths the noise)."""
        known = self._seconds_per_child.get(bundle_id)
        self._seconds_per_child[bundle_id] = seconds if known is None else 0.7 * known + 0.3 * seconds
        self._seconds_per_child.move_to_end(bundle_id)
        while len(self._seconds_per_child) > REMEMBERED_BUNDLES:
            self._seconds_per_child.popitem(last=False)


def task_of(running: RunningJob) -> TaskSpec:
    """What the backtest process runs for a job; a bundle's children store the summary form."""
    job = running.job
    return TaskSpec(str(job.id), str(job.dataset_id), job.config_json, summary=job.bundle_id is not None)
