"""Results are bit-identical whatever the number of BLAS threads.

BLAS libraries split a long reduction between their threads, so a sum taken
through BLAS (``np.dot``) rounds differently for different thread counts.
Each run here is a fresh process with the thread count fixed before numpy
loads; the metrics (floats compared as hex) and the equity curve must agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import msgspec
import numpy as np

import backtest_shared.engine as engine

_CHILD = """
import hashlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
import msgspec
from backtest_shared.engine import decode_strategy, run_backtest, synthetic_ohlcv
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine.examples import RSI_BOTH_EXAMPLE
wma_ema = {
    "indicators": {"fast": {"kind": "wma", "period": 20}, "slow": {"kind": "ema", "period": 60}},
    "entry": {"conditions": [{"kind": "crosses_above", "left": "fast", "right": "slow"}]},
    "exit": {"conditions": [{"kind": "crosses_below", "left": "fast", "right": "slow"}]},
    "direction": "both",
}
data = synthetic_ohlcv(300_000, seed=11)
out = {}
for name, raw in (("A", STRATEGY_A_EXAMPLE), ("rsi", RSI_BOTH_EXAMPLE), ("wma_ema", wma_ema)):
    result = run_backtest(data, decode_strategy(raw))
    metrics = msgspec.to_builtins(result.metrics)
    out[name] = {k: v.hex() if isinstance(v, float) else v for k, v in metrics.items()}
    out[name]["equity"] = hashlib.sha256(result.equity.tobytes()).hexdigest()
print(json.dumps(out))
"""


def _import_roots() -> list[str]:
    """Where this process found the packages the child needs, then its own path.

    A packaged test runner may find its requirements through entries it
    added at start-up and does not pass on; the packages' own locations work
    in any layout.
    """
    roots = []
    for module in (msgspec, np, engine):
        # A package's __init__.py sits one directory below its root per dotted part.
        root = os.path.dirname(os.path.abspath(module.__file__ or ""))
        for _ in module.__name__.split("."):
            root = os.path.dirname(root)
        roots.append(root)
    return roots + sys.path


def _run_with_threads(threads: int) -> dict[str, dict[str, object]]:
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(_import_roots())],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_metrics_and_equity_are_bit_identical_for_one_and_four_blas_threads() -> None:
    single = _run_with_threads(1)
    multi = _run_with_threads(4)
    for name in single:
        differing = {key: (value, multi[name][key]) for key, value in single[name].items() if value != multi[name][key]}
        assert not differing, f"{name}: {differing}"
