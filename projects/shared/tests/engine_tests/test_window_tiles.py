"""Window kernels give the same bits whether a series is scanned in one tile or many.

Long series are scanned in cache-sized tiles with the last block's suffix
carried between tiles; the carried suffix must combine exactly as in one
pass. Tiny tiles force many tile boundaries on short series; the reference
is the one-tile scan, and both must equal the window values of a direct
per-window reduction wherever that reduction is exact (max and min).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from backtest_shared.engine import windows

KERNELS = ("sma", "window_sum", "rolling_max", "rolling_min")


@st.composite
def series_and_period(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    period = draw(st.integers(2, 40))
    n = draw(st.integers(1, 30 * period))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    levels = rng.choice([1e-6, 0.1, 1.1, 123.456, 1e9], size=n)
    values = levels * np.exp(rng.standard_normal(n) * draw(st.sampled_from([0.0, 0.01, 1.0])))
    return values, period


@settings(max_examples=150, deadline=None)
@given(series_and_period())
def test_many_small_tiles_give_the_bits_of_one_tile(case: tuple[np.ndarray, int]) -> None:
    values, period = case
    one_tile = {name: getattr(windows, name)(values, period) for name in KERNELS}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(windows, "_TILE_VALUES", 1)
        patch.setattr(windows, "_TILE_BLOCKS", 1)
        tiled = {name: getattr(windows, name)(values, period) for name in KERNELS}
    for name in KERNELS:
        assert np.array_equal(one_tile[name], tiled[name], equal_nan=True), name
    if values.shape[0] >= period:
        views = sliding_window_view(values, period)
        assert np.array_equal(tiled["rolling_max"][period - 1 :], views.max(axis=1))
        assert np.array_equal(tiled["rolling_min"][period - 1 :], views.min(axis=1))


def test_a_long_series_is_scanned_in_several_tiles_with_the_bits_of_one() -> None:
    values = np.exp(np.random.default_rng(4).standard_normal(300_007).cumsum() * 0.01)
    for period in (3, 10, 50):
        tiled = windows.sma(values, period)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(windows, "_TILE_VALUES", 1 << 40)
            one_tile = windows.sma(values, period)
        assert np.array_equal(tiled, one_tile, equal_nan=True)
