"""Indicator kernels agree with naive per-bar formulas."""

from __future__ import annotations

import numpy as np
import pytest

from backtest_shared.engine import indicators as ind
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.engine.spec import decode_strategy
from backtest_shared.engine.spec import indicator_lookback

DATA = synthetic_ohlcv(400, seed=9)
X = DATA.close


def _naive_ema(x: np.ndarray, alpha: float, seed_index: int, seed: float) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    out[seed_index] = seed
    for t in range(seed_index + 1, x.shape[0]):
        out[t] = alpha * x[t] + (1 - alpha) * out[t - 1]
    return out


@pytest.mark.parametrize("period", [1, 2, 10, 50])
def test_sma_is_the_mean_of_the_last_period_values(period: int) -> None:
    got = ind.sma(X, period)
    assert np.isnan(got[: period - 1]).all()
    expected = [X[t - period + 1 : t + 1].mean() for t in range(period - 1, X.shape[0])]
    np.testing.assert_allclose(got[period - 1 :], expected, rtol=1e-10)


@pytest.mark.parametrize("period", [1, 3, 20, 150])
def test_ema_matches_the_recursive_definition_seeded_with_the_sma(period: int) -> None:
    expected = _naive_ema(X, 2 / (period + 1), period - 1, X[:period].mean())
    np.testing.assert_allclose(ind.ema(X, period), expected, rtol=1e-10)


def test_wma_weights_the_newest_value_most() -> None:
    w = np.arange(1.0, 6.0)
    got = ind.wma(X, 5)
    np.testing.assert_allclose(got[4:], [X[t - 4 : t + 1] @ w / w.sum() for t in range(4, 400)])


def test_rsi_uses_wilder_smoothing_and_stays_in_range() -> None:
    p = 14
    d = np.diff(X)
    gain = _naive_ema(np.concatenate(([0], np.maximum(d, 0))), 1 / p, p, np.maximum(d[:p], 0).mean())
    loss = _naive_ema(np.concatenate(([0], np.maximum(-d, 0))), 1 / p, p, np.maximum(-d[:p], 0).mean())
    got = ind.rsi(X, p)
    np.testing.assert_allclose(got[p:], (100 - 100 / (1 + gain / loss))[p:], rtol=1e-9)
    assert np.isnan(got[:p]).all()
    assert ind.rsi(np.linspace(1, 2, 50), 5)[-1] == 100.0


def test_atr_and_bollinger_and_stochastic_match_naive_formulas() -> None:
    h, lo, c = DATA.high, DATA.low, DATA.close
    tr = np.maximum(
        h - lo,
        np.abs(np.concatenate(([np.nan], np.maximum(h[1:] - c[:-1], c[:-1] - lo[1:])))),
    )
    tr[0] = h[0] - lo[0]
    np.testing.assert_allclose(ind.atr(h, lo, c, 7), _naive_ema(tr, 1 / 7, 6, tr[:7].mean()), rtol=1e-10)
    bb = ind.bollinger(X, 20, 2.0)
    std = np.array([X[t - 19 : t + 1].std() for t in range(19, 400)])
    np.testing.assert_allclose(bb["upper"][19:], bb["middle"][19:] + 2 * std, rtol=1e-10)
    st = ind.stochastic(h, lo, c, 14, 3)
    k = [
        100 * (c[t] - lo[t - 13 : t + 1].min()) / (h[t - 13 : t + 1].max() - lo[t - 13 : t + 1].min())
        for t in range(13, 400)
    ]
    np.testing.assert_allclose(st["k"][13:], k, rtol=1e-10)
    np.testing.assert_allclose(st["d"][15:], np.convolve(k, np.ones(3) / 3, "valid"), rtol=1e-10)


def test_macd_signal_is_an_ema_of_the_line() -> None:
    out = ind.macd(X, 12, 26, 9)
    line = ind.ema(X, 12) - ind.ema(X, 26)
    np.testing.assert_allclose(out["line"], line, rtol=1e-12)
    expected = _naive_ema(line, 0.2, 25 + 8, line[25:34].mean())
    np.testing.assert_allclose(out["signal"], expected, rtol=1e-9)
    np.testing.assert_allclose(out["hist"], line - expected, rtol=1e-7, atol=1e-12)


def test_donchian_uses_the_previous_bars_and_roc_is_in_percent() -> None:
    dc = ind.donchian(DATA.high, DATA.low, 10)
    assert np.isnan(dc["upper"][:10]).all()
    assert dc["upper"][10] == DATA.high[:10].max()
    assert dc["lower"][25] == DATA.low[15:25].min()
    roc = ind.roc(X, 5)
    assert roc[5] == pytest.approx(100 * (X[5] / X[0] - 1))


def test_supertrend_flips_direction_with_the_trend() -> None:
    up = np.linspace(100, 200, 60)
    down = np.linspace(200, 100, 60)
    c = np.concatenate((up, down))
    out = ind.supertrend(c + 1, c - 1, c, 5, 2.0)
    assert out["direction"][50] == 1.0
    assert out["direction"][-1] == -1.0
    assert np.isfinite(out["value"][4:]).all()


def test_every_output_is_finite_after_its_lookback() -> None:
    kinds = {
        "a": {"kind": "sma", "period": 7},
        "b": {"kind": "ema", "period": 7},
        "c": {"kind": "wma", "period": 7},
        "d": {"kind": "rsi", "period": 7},
        "e": {"kind": "macd", "fast": 3, "slow": 7, "signal": 4},
        "f": {"kind": "bollinger", "period": 7},
        "g": {"kind": "atr", "period": 7},
        "h": {"kind": "stochastic", "k_period": 7, "d_period": 3},
        "i": {"kind": "supertrend", "period": 7},
        "j": {"kind": "donchian", "period": 7},
        "k": {"kind": "roc", "period": 7},
    }
    spec = decode_strategy(
        {
            "indicators": kinds,
            "entry": {"conditions": [{"kind": "greater_than", "left": "a", "right": 0}]},
        }
    )
    cache_fn = {
        "close": DATA.close,
        "open": DATA.open,
        "hl2": (DATA.high + DATA.low) / 2,
    }
    for spec_ind in spec.indicators.values():
        outputs = ind.compute_indicator(spec_ind, cache_fn.__getitem__, (DATA.high, DATA.low, DATA.close))
        lb = indicator_lookback(spec_ind)
        for arr in outputs.values():
            assert np.isfinite(arr[lb:]).all(), spec_ind
            assert lb == 0 or np.isnan(arr[lb - 1]) or spec_ind.__struct_config__.tag in ("macd", "stochastic")


def test_supertrend_starts_down_and_follows_tradingview_band_rules_by_hand() -> None:
    # period 1, multiplier 1: ATR = true range, bands = hl2 -/+ TR.
    # bar  h   l   c     TR   raw lower/upper  final lower/upper  trend
    # 0    11  9   10    2    8 / 12           8 / 12             down (first bar)
    # 1    12  10  11.5  2    9 / 13           9 / 12 (kept)      down: 11.5 <= 12
    # 2    14  12  13.5  2.5  10.5 / 15.5      10.5 / 12          up: 13.5 > 12
    # 3    14  11  11.2  3    9.5 / 15.5       10.5 / 15.5        up: 11.2 >= 10.5
    # 4    11  9   9.5   2.2  7.8 / 12.2       10.5 / 12.2        down: 9.5 < 10.5
    high = np.array([11.0, 12.0, 14.0, 14.0, 11.0])
    low = np.array([9.0, 10.0, 12.0, 11.0, 9.0])
    close = np.array([10.0, 11.5, 13.5, 11.2, 9.5])
    out = ind.supertrend(high, low, close, 1, 1.0)
    assert out["direction"].tolist() == [-1.0, -1.0, 1.0, 1.0, -1.0]
    np.testing.assert_allclose(out["value"], [12.0, 12.0, 10.5, 10.5, 12.2], rtol=1e-15)
