"""The progress bar ``.wait()`` shows, fed by the API's server-sent events or by polling.

It draws on stderr, so ``--json`` output on stdout stays clean, and draws
nothing when disabled (scripts, tests) or when stderr is not a terminal
(rich then prints no live display).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn
from rich.progress import MofNCompleteColumn
from rich.progress import Progress
from rich.progress import TaskProgressColumn
from rich.progress import TextColumn
from rich.progress import TimeElapsedColumn

FINAL_EVENT_STATUSES = frozenset({"succeeded", "failed", "cancelled", "finished"})


class ProgressBar:
    """``update(status, fraction)`` moves the bar; ``units`` (jobs of a sweep) shows ``n/N``."""

    def __init__(self, label: str, *, units: int | None = None, enabled: bool = True) -> None:
        self.units = units
        self.status = "pending"
        self.fraction = 0.0
        self._progress: Progress | None = None
        self._task: Any = None
        if enabled:
            columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
            if units:
                columns.append(MofNCompleteColumn())
            columns += [TextColumn("[dim]{task.fields[status]}"), TimeElapsedColumn()]
            self._progress = Progress(*columns, console=Console(stderr=True), transient=False)
            self._task = self._progress.add_task(label, total=units or 100, status="pending")

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, status: str, fraction: float) -> None:
        self.status, self.fraction = status, max(0.0, min(1.0, fraction))
        if self._progress is not None:
            total = self.units or 100
            self._progress.update(self._task, completed=round(self.fraction * total), status=status)
