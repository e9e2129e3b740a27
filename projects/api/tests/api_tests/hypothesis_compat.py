"""Let hypothesis-jsonschema 0.23 (used by schemathesis 3.39) run on the locked Hypothesis 6.170.

hypothesis-jsonschema draws object properties with the old private ``cu.many(...).more()``
loop; Hypothesis replaced it with a ``with many(...) as elements: for _ in elements`` API.
This adapter offers the old interface on top of the new one (test-only; no behaviour of
the API under test depends on it).
"""

from __future__ import annotations

import types
from typing import Any

from hypothesis.internal.conjecture import utils as cu


class _LegacyMany:
    """The pre-6.1xx ``many`` loop: draw a biased boolean per element."""

    def __init__(self, data: Any, min_size: int, max_size: float, average_size: float) -> None:
        self.data = data
        self.min_size = min_size
        self.max_size = max_size
        self.p_continue = cu._calc_p_continue(average_size - min_size, max_size - min_size)
        self.count = 0
        self.rejections = 0
        self.force_stop = False

    def more(self) -> bool:
        if self.min_size == self.max_size:
            should_continue = self.count < self.min_size
        else:
            forced: bool | None = None
            if self.force_stop:
                forced = False
            elif self.count < self.min_size:
                forced = True
            elif self.count >= self.max_size:
                forced = False
            should_continue = self.data.draw_boolean(self.p_continue, forced=forced)
        if should_continue:
            self.count += 1
        return bool(should_continue)

    def reject(self, why: str | None = None) -> None:
        self.count -= 1
        self.rejections += 1
        if self.rejections > max(3, 2 * self.count):
            if self.count < self.min_size:
                self.data.mark_invalid(why)
            else:
                self.force_stop = True


def install() -> None:
    from hypothesis_jsonschema import _from_schema  # pants: no-infer-dep (comes with schemathesis)

    if hasattr(cu.many, "more"):
        return
    patched = types.SimpleNamespace(**{**vars(cu), "many": _LegacyMany})
    _from_schema.__dict__["cu"] = patched
