"""Benchmark of the numpy backtest engine (run: python projects/shared/benchmarks/bench_engine.py).

Cases: strategy A (SMA(10) crosses SMA(50), long only, all-in, fee 10 bps, fill
at next open) and strategy B (A plus a 2 % stop and a 4 % target) on seeded
synthetic GBM bars (hourly, 60 % annual volatility) at 100k and 1M bars; a
100-combination (fast, slow) sweep over 100k bars; and the first call in a
fresh process. Each case runs in its own subprocess so that its peak RSS is its
own. Times are medians (and minima) of warm runs; bars/s = bars / median time;
"peak+" is the peak RSS growth during one backtest (VmHWM reset via
/proc/self/clear_refs), compared with the input size.

``--baseline-src DIR`` also times another copy of the engine (DIR is a
``src`` directory, e.g. an export of an older commit) in the same run: each
case runs old then new, alternately (``--rounds`` times), so both see the
same machine load; it reports the best and the median time of each engine
and their ratios (new/old).
Array conventions: synthetic OHLCV (int64 epoch seconds, float64 prices).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

_SRC = pathlib.Path(os.environ.get("BENCH_ENGINE_SRC") or pathlib.Path(__file__).resolve().parents[1] / "src")
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

TARGETS = {"A": 25e6, "B": 18e6}


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _case(name: str, n_bars: int, repeats: int) -> dict[str, object]:
    from backtest_shared.engine import STRATEGY_A_EXAMPLE
    from backtest_shared.engine import STRATEGY_B_EXAMPLE
    from backtest_shared.engine import decode_strategy
    from backtest_shared.engine import run_backtest
    from backtest_shared.engine import synthetic_ohlcv
    from backtest_shared.engine import validate_ohlcv

    spec = decode_strategy(STRATEGY_A_EXAMPLE if name == "A" else STRATEGY_B_EXAMPLE)
    data = synthetic_ohlcv(n_bars, seed=42)
    t0 = time.perf_counter()
    validate_ohlcv(data)
    validate_ms = (time.perf_counter() - t0) * 1e3
    before = _rss_kib("VmRSS")
    exact = _reset_peak()
    result = run_backtest(data, spec)
    peak = _rss_kib("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    cpu_times = []
    for _ in range(repeats):
        t = time.perf_counter()
        cpu = time.process_time()
        run_backtest(data, spec)
        cpu_times.append(time.process_time() - cpu)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    best = min(times)
    return {
        "best_ms": best * 1e3,
        "best_cpu_ms": min(cpu_times) * 1e3,
        "case": f"{name} {n_bars:,} bars",
        "ms": med * 1e3,
        "bars_per_s": n_bars / med,
        "target": TARGETS[name],
        "trades": result.metrics.num_trades,
        "validate_ms": validate_ms,
        "peak_extra_mib": (peak - before) / 1024,
        "input_mib": data.nbytes / 2**20,
        "peak_rss_mib": peak / 1024,
    }


def _sweep(repeats: int) -> dict[str, object]:
    from backtest_shared.engine import STRATEGY_A_EXAMPLE
    from backtest_shared.engine import decode_strategy
    from backtest_shared.engine import expand_grid
    from backtest_shared.engine import run_sweep
    from backtest_shared.engine import synthetic_ohlcv

    data = synthetic_ohlcv(100_000, seed=42)
    grid = {
        "indicators.fast.period": list(range(5, 55, 5)),
        "indicators.slow.period": list(range(60, 160, 10)),
    }
    specs = expand_grid(decode_strategy(STRATEGY_A_EXAMPLE), grid)
    run_sweep(data, specs[:2])
    times = []
    cpu_times = []
    for _ in range(repeats):
        t = time.perf_counter()
        cpu = time.process_time()
        entries = run_sweep(data, specs, rank_by="sharpe")
        cpu_times.append(time.process_time() - cpu)
        times.append(time.perf_counter() - t)
    return {
        "combos": len(specs),
        "best_cpu_ms": min(cpu_times) * 1e3,
        "ms": statistics.median(times) * 1e3,
        "best_ms": min(times) * 1e3,
        "best": entries[0].index,
    }


def _first_call() -> dict[str, object]:
    t0 = time.perf_counter()
    from backtest_shared.engine import STRATEGY_A_EXAMPLE
    from backtest_shared.engine import decode_strategy
    from backtest_shared.engine import run_backtest
    from backtest_shared.engine import synthetic_ohlcv

    t1 = time.perf_counter()
    data = synthetic_ohlcv(100_000, seed=42)
    spec = decode_strategy(STRATEGY_A_EXAMPLE)
    t2 = time.perf_counter()
    run_backtest(data, spec)
    t3 = time.perf_counter()
    return {
        "import_ms": (t1 - t0) * 1e3,
        "first_call_ms": (t3 - t2) * 1e3,
        "import_plus_first_call_ms": (t1 - t0 + t3 - t2) * 1e3,
    }


def _child(args: list[str], src: str | None = None) -> dict[str, object]:
    env = os.environ.copy()
    if src is not None:
        env["BENCH_ENGINE_SRC"] = src
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--baseline-src", help="another engine src directory to time alongside")
    parser.add_argument("--rounds", type=int, default=3, help="alternating old/new rounds per case (--baseline-src)")
    args = parser.parse_args()
    if args.child:
        kind = args.child[0]
        if kind == "case":
            res = _case(args.child[1], int(args.child[2]), int(args.child[3]))
        elif kind == "sweep":
            res = _sweep(int(args.child[1]))
        else:
            res = _first_call()
        print(json.dumps(res))
        return
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}"
    )
    if args.baseline_src:
        _compare(args.baseline_src, args.repeats, args.rounds)
        return
    print(
        f"{'case':<18}{'best ms':>9}{'ms/run':>9}{'M bars/s':>10}{'target':>8}{'trades':>8}"
        f"{'input MiB':>11}{'peak+ MiB':>11}{'x input':>9}{'RSS MiB':>9}"
    )
    for name in ("A", "B"):
        for n in (100_000, 1_000_000):
            reps = args.repeats if n <= 100_000 else max(5, args.repeats // 3)
            r = _child(["case", name, str(n), str(reps)])
            ratio = float(r["peak_extra_mib"]) / float(r["input_mib"])  # type: ignore[arg-type]
            ok = "ok" if float(r["bars_per_s"]) >= float(r["target"]) else "SLOW"  # type: ignore[arg-type]
            print(
                f"{r['case']:<18}{r['best_ms']:>9.2f}{r['ms']:>9.2f}{float(r['bars_per_s']) / 1e6:>10.1f}"  # type: ignore[arg-type]
                f"{ok:>8}{r['trades']:>8}{r['input_mib']:>11.1f}{r['peak_extra_mib']:>11.1f}"
                f"{ratio:>9.2f}{r['peak_rss_mib']:>9.0f}"
            )
    s = _child(["sweep", "5"])
    print(
        f"sweep: {s['combos']} (fast, slow) combinations x 100,000 bars: {s['ms']:.0f} ms median, "
        f"{s['best_ms']:.0f} ms best (target < 250 ms)"
    )
    f = _child(["first"])
    print(
        f"fresh process: import {f['import_ms']:.0f} ms, first run_backtest (A, 100k bars) "
        f"{f['first_call_ms']:.1f} ms, import + first call {f['import_plus_first_call_ms']:.0f} ms "
        f"(target < 500 ms)"
    )


def _floats(results: list[dict[str, object]], key: str) -> list[float]:
    return [float(r[key]) for r in results]  # type: ignore[arg-type]


def _compare(baseline: str, repeats: int, rounds: int) -> None:
    """Old (baseline) and new engines, case by case, in alternating subprocesses.

    Each case runs ``rounds`` times old then new; "best" is the minimum over
    all warm runs of all rounds, "med" the median of the rounds' medians and
    "cpu" the least CPU time of one run (all threads of the process), which
    other processes on a busy machine disturb least.
    """
    print(
        f"{'case':<18}{'old best':>10}{'new best':>10}{'old med':>9}{'new med':>9}"
        f"{'best n/o':>10}{'med n/o':>9}{'old cpu':>9}{'new cpu':>9}{'cpu n/o':>9}{'old tr':>8}{'new tr':>8}"
    )
    for name in ("A", "B"):
        for n in (100_000, 1_000_000):
            reps = repeats if n <= 100_000 else max(5, repeats // 3)
            olds: list[dict[str, object]] = []
            news: list[dict[str, object]] = []
            for _ in range(rounds):
                olds.append(_child(["case", name, str(n), str(reps)], baseline))
                news.append(_child(["case", name, str(n), str(reps)]))
            old_best, new_best = min(_floats(olds, "best_ms")), min(_floats(news, "best_ms"))
            old_med, new_med = statistics.median(_floats(olds, "ms")), statistics.median(_floats(news, "ms"))
            old_cpu, new_cpu = min(_floats(olds, "best_cpu_ms")), min(_floats(news, "best_cpu_ms"))
            print(
                f"{news[0]['case']:<18}{old_best:>10.2f}{new_best:>10.2f}{old_med:>9.2f}{new_med:>9.2f}"
                f"{new_best / old_best:>10.2f}{new_med / old_med:>9.2f}"
                f"{old_cpu:>9.2f}{new_cpu:>9.2f}{new_cpu / old_cpu:>9.2f}{olds[0]['trades']:>8}{news[0]['trades']:>8}"
            )
    old_sweeps: list[dict[str, object]] = []
    new_sweeps: list[dict[str, object]] = []
    for _ in range(rounds):
        old_sweeps.append(_child(["sweep", "3"], baseline))
        new_sweeps.append(_child(["sweep", "3"]))
    old_best, new_best = min(_floats(old_sweeps, "best_ms")), min(_floats(new_sweeps, "best_ms"))
    old_med, new_med = statistics.median(_floats(old_sweeps, "ms")), statistics.median(_floats(new_sweeps, "ms"))
    old_cpu, new_cpu = min(_floats(old_sweeps, "best_cpu_ms")), min(_floats(new_sweeps, "best_cpu_ms"))
    print(
        f"{'sweep 100 x 100k':<18}{old_best:>10.0f}{new_best:>10.0f}{old_med:>9.0f}{new_med:>9.0f}"
        f"{new_best / old_best:>10.2f}{new_med / old_med:>9.2f}{old_cpu:>9.0f}{new_cpu:>9.0f}{new_cpu / old_cpu:>9.2f}"
    )


if __name__ == "__main__":
    main()
