"""Bit-for-bit comparison of two engine copies on a fixed set of specs and data sets.

Run: ``python projects/shared/benchmarks/compare_engine_results.py --baseline-src DIR``
where DIR is the ``src`` directory of another copy of the engine (for example
``git archive <commit> projects/shared | tar -x -C /tmp/base``, then
``/tmp/base/projects/shared/src``). Each engine runs in its own subprocess and
prints, per case, SHA-256 digests of the metrics (floats as hex), the equity
curve and every per-trade array; the parent reports every case whose digests
differ and exits non-zero if any does. A refactoring that must not change
results passes with "0 of N cases differ".

Cases: every indicator kind and output, every condition kind, long / short /
both, fixed and trailing stops, targets, fees and slippage, on seeded GBM
bars, flat runs, level shifts across orders of magnitude and wide random
walks; plus a ranked sweep.
Array conventions: OHLCV as in ``backtest_shared.engine.data``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

_SRC = pathlib.Path(os.environ.get("BENCH_ENGINE_SRC") or pathlib.Path(__file__).resolve().parents[1] / "src")
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))


def _cross(fast: dict[str, Any], slow: dict[str, Any], **extra: Any) -> dict[str, Any]:
    left = extra.pop("left", "fast")
    right = extra.pop("right", "slow")
    return {
        "indicators": {"fast": fast, "slow": slow},
        "entry": {"conditions": [{"kind": "crosses_above", "left": left, "right": right}]},
        "exit": {"conditions": [{"kind": "crosses_below", "left": left, "right": right}]},
        **extra,
    }


def _threshold(indicator: dict[str, Any], output: str, low: float, high: float, **extra: Any) -> dict[str, Any]:
    ref = f"ind.{output}" if output else "ind"
    return {
        "indicators": {"ind": indicator},
        "entry": {"conditions": [{"kind": "crosses_above", "left": ref, "right": low}]},
        "exit": {
            "combine": "any",
            "conditions": [
                {"kind": "crosses_below", "left": ref, "right": high},
                {"kind": "less_than", "left": ref, "right": low / 2 if low > 0 else low - 1},
            ],
        },
        **extra,
    }


def specs() -> dict[str, dict[str, Any]]:
    """Named spec dicts covering every indicator, condition and money rule."""
    from backtest_shared.engine import STRATEGY_A_EXAMPLE
    from backtest_shared.engine import STRATEGY_B_EXAMPLE
    from backtest_shared.engine.examples import RSI_BOTH_EXAMPLE

    sma = {"kind": "sma", "period": 10}
    out: dict[str, dict[str, Any]] = {
        "A": STRATEGY_A_EXAMPLE,
        "B": STRATEGY_B_EXAMPLE,
        "rsi_both_trailing": RSI_BOTH_EXAMPLE,
        "sma_5_20_short": _cross({"kind": "sma", "period": 5}, {"kind": "sma", "period": 20}, direction="short"),
        "sma_3_300_both": _cross({"kind": "sma", "period": 3}, {"kind": "sma", "period": 300}, direction="both"),
        "ema_wma_both_costs": _cross(
            {"kind": "ema", "period": 12},
            {"kind": "wma", "period": 30, "source": "hlc3"},
            direction="both",
            costs={"fee_bps": 7.5, "slippage_bps": 3.0},
        ),
        "wma_sma_ohlc4_stop": _cross(
            {"kind": "wma", "period": 7, "source": "ohlc4"},
            {"kind": "sma", "period": 25, "source": "hl2"},
            money={"position_size": 0.5, "leverage": 3.0, "stop_loss_pct": 1.5, "take_profit_pct": 6.0},
        ),
        "close_vs_sma_trailing": _cross(
            sma,
            {"kind": "sma", "period": 40},
            left="close",
            right="slow",
            money={"trailing_stop_pct": 3.0, "stop_loss_pct": 5.0},
        ),
        "bollinger": _cross(
            {"kind": "bollinger", "period": 20, "stddev": 2.0},
            sma,
            left="close",
            right="fast.lower",
            direction="both",
        ),
        "bollinger_upper_long_period": _cross(
            {"kind": "bollinger", "period": 300, "stddev": 1.5, "source": "hl2"},
            sma,
            left="close",
            right="fast.upper",
        ),
        "macd": _cross({"kind": "macd"}, sma, left="fast.line", right="fast.signal", direction="both"),
        "macd_hist": _threshold({"kind": "macd", "fast": 5, "slow": 35, "signal": 5}, "hist", 0.0, 0.0),
        "rsi": _threshold({"kind": "rsi", "period": 14}, "", 30.0, 70.0, direction="both"),
        "atr": _threshold({"kind": "atr", "period": 14}, "", 1.0, 2.0),
        "stochastic_k": _threshold({"kind": "stochastic", "k_period": 14, "d_period": 3}, "k", 20.0, 80.0),
        "stochastic_d": _threshold(
            {"kind": "stochastic", "k_period": 30, "d_period": 5}, "d", 25.0, 75.0, direction="short"
        ),
        "supertrend": _threshold({"kind": "supertrend", "period": 10, "multiplier": 3.0}, "direction", 0.0, 0.0),
        "supertrend_value": _cross(
            {"kind": "supertrend", "period": 7, "multiplier": 2.0}, sma, left="close", right="fast.value"
        ),
        "donchian": _cross({"kind": "donchian", "period": 20}, sma, left="close", right="fast.upper"),
        "donchian_middle": _cross(
            {"kind": "donchian", "period": 55}, sma, left="close", right="fast.middle", direction="both"
        ),
        "roc": _threshold({"kind": "roc", "period": 10, "source": "open"}, "", 0.5, -0.5),
        "greater_less": {
            "indicators": {"fast": sma, "slow": {"kind": "ema", "period": 50}},
            "entry": {
                "combine": "all",
                "conditions": [
                    {"kind": "greater_than", "left": "fast", "right": "slow"},
                    {"kind": "greater_than", "left": "close", "right": "fast"},
                ],
            },
            "exit": {"conditions": [{"kind": "less_than", "left": "close", "right": "slow"}]},
            "money": {"take_profit_pct": 2.0},
        },
        "leveraged_to_ruin": _cross(
            {"kind": "sma", "period": 4},
            {"kind": "sma", "period": 9},
            direction="both",
            money={"leverage": 60.0},
            costs={"fee_bps": 20.0},
        ),
        "volume_sma": _cross(
            {"kind": "sma", "period": 5, "source": "volume"},
            {"kind": "sma", "period": 50, "source": "volume"},
            money={"stop_loss_pct": 3.0},
        ),
    }
    return out


def datasets() -> dict[str, Any]:
    """Named OHLCV data sets: GBM bars and the adversarial shapes of the exactness tests."""
    import numpy as np

    from backtest_shared.engine import OHLCV
    from backtest_shared.engine import synthetic_ohlcv

    def bars(closes: Any) -> OHLCV:
        n = closes.shape[0]
        rng = np.random.default_rng(n)
        opens = np.concatenate(([closes[0]], closes[:-1]))
        high = np.maximum(opens, closes) * (1.0 + 0.002 * rng.random(n))
        low = np.minimum(opens, closes) * (1.0 - 0.002 * rng.random(n))
        return OHLCV(1_600_000_000 + 60 * np.arange(n), opens, high, low, closes, 1.0 + rng.random(n) * 100)

    def flat(closes: Any) -> OHLCV:
        n = closes.shape[0]
        return OHLCV(1_600_000_000 + 3600 * np.arange(n), closes, closes, closes, closes, np.ones(n))

    rng = np.random.default_rng(7)
    steps = rng.standard_normal(6_000).cumsum() * 0.05
    shifted = np.concatenate((np.full(50, 1e11), 1.0 + 0.01 * rng.standard_normal(2_000).cumsum() ** 2))
    runs = np.repeat(rng.choice([1.1, 0.1, 123.456, 0.001, 1.0001], size=60), rng.integers(1, 120, size=60))
    return {
        "gbm_20011": synthetic_ohlcv(20_011, seed=1),
        "gbm_3000_daily": synthetic_ohlcv(3_000, seed=2, bar_seconds=86_400, annual_volatility=0.3),
        "gbm_100k": synthetic_ohlcv(100_000, seed=42),
        "wide_walk": bars(np.exp(steps).clip(1e-6, 1e6)),
        "level_shift": bars(np.abs(shifted).clip(1e-3, 1e12)),
        "flat_runs": flat(runs.astype(np.float64)),
    }


def _digest(*arrays: Any) -> str:
    import numpy as np

    digest = hashlib.sha256()
    for array in arrays:
        value = np.ascontiguousarray(array)
        digest.update(str(value.dtype).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]


def _metrics_digest(metrics: Any) -> str:
    import msgspec

    fields = msgspec.to_builtins(metrics)
    text = json.dumps({k: v.hex() if isinstance(v, float) else v for k, v in fields.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_cases() -> dict[str, dict[str, str]]:
    """Digests of every (spec, data set) result and of one sweep."""
    from backtest_shared.engine import EngineValidationError
    from backtest_shared.engine import decode_strategy
    from backtest_shared.engine import expand_grid
    from backtest_shared.engine import run_backtest
    from backtest_shared.engine import run_sweep

    out: dict[str, dict[str, str]] = {}
    data_sets = datasets()
    for spec_name, raw in specs().items():
        spec = decode_strategy(raw)
        for data_name, data in data_sets.items():
            key = f"{spec_name} / {data_name}"
            try:
                result = run_backtest(data, spec)
            except EngineValidationError as err:
                out[key] = {"refused": f"{err.field}: {err.reason}"}
                continue
            schedule = result.schedule
            out[key] = {
                "metrics": _metrics_digest(result.metrics),
                "equity": _digest(result.equity),
                "trades": _digest(
                    schedule.entry_bar,
                    schedule.exit_bar,
                    schedule.side,
                    schedule.entry_price,
                    schedule.exit_price,
                    schedule.reason,
                    result.trade_size,
                    result.trade_pnl,
                    result.trade_return_pct,
                ),
                "num_trades": str(result.metrics.num_trades),
            }
    grid = {"indicators.fast.period": [5, 10, 20], "indicators.slow.period": [30, 60, 120]}
    sweep_specs = expand_grid(decode_strategy(specs()["B"]), grid)
    entries = run_sweep(data_sets["gbm_20011"], sweep_specs, rank_by="sharpe")
    out["sweep B 3x3 / gbm_20011"] = {
        "ranking": ",".join(str(entry.index) for entry in entries),
        "metrics": hashlib.sha256("".join(_metrics_digest(e.metrics) for e in entries).encode()).hexdigest()[:16],
    }
    return out


def _child(src: str | None) -> dict[str, dict[str, str]]:
    env = os.environ.copy()
    if src is not None:
        env["BENCH_ENGINE_SRC"] = src
    stdout = subprocess.run(
        [sys.executable, __file__, "--child"], check=True, capture_output=True, text=True, env=env
    ).stdout
    return json.loads(stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-src", required="--child" not in sys.argv, help="the other engine's src directory")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_cases()))
        return
    old, new = _child(args.baseline_src), _child(None)
    differ = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
    for key in differ:
        print(f"DIFFERS {key}: old {old.get(key)} new {new.get(key)}")
    trades = sum(int(v.get("num_trades", 0)) for v in new.values())
    print(f"{len(differ)} of {len(new)} cases differ ({trades} trades in the new results)")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
