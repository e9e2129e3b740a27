"""What each ``backtest`` sub-command does; ``main`` parses the arguments and calls one of these."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from backtest_client.cli import render
from backtest_client.client import BacktestRun
from backtest_client.client import Client
from backtest_client.client import SweepRun
from backtest_client.errors import NotFoundError
from backtest_client.grid import parse_grid_arg
from backtest_client.grid import short_path
from backtest_client.results import Result
from backtest_client.strategy import Strategy

DEFAULT_METRICS = ("sharpe", "total_return", "max_drawdown", "num_trades")


class Context:
    """The client and the consoles of one invocation."""

    def __init__(self, client: Client, args: argparse.Namespace, out: Console) -> None:
        self.client = client
        self.args = args
        self.out = out
        self.json = bool(args.json)
        self.progress = not self.json and not getattr(args, "no_progress", False)


def data_upload(ctx: Context) -> int:
    dataset = ctx.client.upload(Path(ctx.args.file), name=ctx.args.name)
    if ctx.json:
        render.emit_json(ctx.out, dataset.to_json())
    elif dataset.existing:
        ctx.out.print(f"Identical bars are already stored as dataset [bold]{dataset.id}[/] ({dataset.name!r}).")
    else:
        ctx.out.print(
            f"Uploaded [bold]{dataset.name}[/] as dataset [bold]{dataset.id}[/]: {dataset.n_bars} bars, "
            f"{dataset.first_timestamp:%Y-%m-%d %H:%M} to {dataset.last_timestamp:%Y-%m-%d %H:%M} UTC."
        )
    return 0


def data_ls(ctx: Context) -> int:
    datasets = ctx.client.datasets(limit=ctx.args.limit)
    if ctx.json:
        render.emit_json(ctx.out, [d.to_json() for d in datasets])
        return 0
    rows = [
        {
            "id": d.id,
            "name": d.name,
            "bars": d.n_bars,
            "from": f"{d.first_timestamp:%Y-%m-%d}",
            "to": f"{d.last_timestamp:%Y-%m-%d}",
        }
        for d in datasets
    ]
    ctx.out.print(render.rows_table("datasets", rows, ["id", "name", "bars", "from", "to"]))
    return 0


def _show_backtest(ctx: Context, run: BacktestRun) -> int:
    if ctx.json:
        render.emit_json(ctx.out, run.state)
        return 0 if run.status == "succeeded" else 1
    if run.status != "succeeded":
        error = f": {run.state['error']}" if run.state.get("error") else ""
        ctx.out.print(f"backtest {run.id} is [bold]{run.status}[/]{error}")
        return 0 if run.status in ("pending", "running") else 1
    result = run.result()
    name = result.strategy.get("name") or "backtest"
    ctx.out.print(render.metrics_table(result.raw.get("metrics", {}), f"{name} — {run.id}"))
    return 0


def run(ctx: Context) -> int:
    strategy = Strategy.load(ctx.args.strategy)
    submitted = ctx.client.run(strategy, ctx.args.data, priority=ctx.args.priority)
    if ctx.args.no_wait:
        if ctx.json:
            render.emit_json(ctx.out, submitted.state)
        else:
            ctx.out.print(f"Submitted backtest [bold]{submitted.id}[/] ({submitted.status}).")
        return 0
    return _show_backtest(ctx, submitted.wait(progress=ctx.progress))


def _grid(items: list[str]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, values = parse_grid_arg(item)
        grid[key] = values
    return grid


def _show_sweep(ctx: Context, sweep: SweepRun, top: int, rank_by: str | None) -> int:
    frame = sweep.results(top=top, rank_by=rank_by)
    state = sweep.state
    if ctx.json:
        render.emit_json(ctx.out, state)
        return 0
    metric = str(state.get("rank_by") or "sharpe")
    metrics = [metric, *(m for m in DEFAULT_METRICS if m != metric)]
    title = (
        f"sweep {sweep.id} — {state.get('status')}, {state.get('total_results', len(frame))} results "
        f"of {state.get('total_jobs')} jobs, ranked by {metric}"
    )
    ctx.out.print(render.ranked_table(frame, title, metrics))
    return 0


def sweep(ctx: Context) -> int:
    strategy = Strategy.load(ctx.args.strategy)
    submitted = ctx.client.sweep(
        strategy,
        ctx.args.data,
        grid=_grid(ctx.args.grid),
        where=ctx.args.where or None,
        rank_by=ctx.args.rank_by,
        name=ctx.args.name,
        priority=ctx.args.priority,
    )
    if ctx.args.no_wait:
        if ctx.json:
            render.emit_json(ctx.out, submitted.state)
        else:
            ctx.out.print(f"Submitted sweep [bold]{submitted.id}[/]: {submitted.total_jobs} backtests.")
        return 0
    submitted.wait(progress=ctx.progress)
    return _show_sweep(ctx, submitted, ctx.args.top, ctx.args.rank_by)


def _exports(ctx: Context, result: Result) -> None:
    args = ctx.args
    if args.trades:
        frame = result.trades
        for column in ("entry_time", "exit_time"):
            frame[column] = frame[column].map(lambda t: t.isoformat())
        frame.to_csv(args.trades, index=False)
    if args.equity:
        equity = result.equity.to_frame().join(result.drawdown)
        equity.index = equity.index.map(lambda t: t.isoformat())
        equity.to_csv(args.equity, index_label="timestamp")
    if args.chart:
        result.chart().save(args.chart)
    for label, path in (("trades", args.trades), ("equity", args.equity), ("chart", args.chart)):
        if path and not ctx.json:
            ctx.out.print(f"Wrote {label} to {path}")


def show(ctx: Context) -> int:
    """A backtest (metrics, exports) or, if the id is a bundle's, its ranked results."""
    try:
        found = ctx.client.backtest(ctx.args.id)
    except NotFoundError:
        bundle = ctx.client.bundle(ctx.args.id)
        status = _show_sweep(ctx, bundle, ctx.args.top, ctx.args.rank_by)
        if ctx.args.chart:
            grid = list((bundle.state.get("best") or {}).get("parameters", {}))
            if len(grid) >= 2:
                bundle.heatmap(short_path(grid[0]), short_path(grid[1]), ctx.args.rank_by).save(ctx.args.chart)
                if not ctx.json:
                    ctx.out.print(f"Wrote heatmap to {ctx.args.chart}")
        return status
    code = _show_backtest(ctx, found)
    if found.status == "succeeded":
        _exports(ctx, found.result())
    return code


def ls(ctx: Context) -> int:
    # Sweeps' backtests are listed too; look further back so standalone ones still show.
    backtests = [b for b in ctx.client.backtests(limit=500) if not b.get("bundle_id")][: ctx.args.limit]
    bundles = ctx.client.bundles(limit=ctx.args.limit)
    if ctx.json:
        render.emit_json(ctx.out, {"backtests": backtests, "bundles": bundles})
        return 0
    columns = ["id", "status", "progress", "dataset_id", "created_at"]
    ctx.out.print(render.rows_table("backtests", backtests, columns))
    ctx.out.print(render.rows_table("sweeps", bundles, ["id", "name", "total_jobs", "rank_by", "created_at"]))
    return 0


def cancel(ctx: Context) -> int:
    try:
        answer: dict[str, Any] = ctx.client.backtest(ctx.args.id).cancel().state
        message = f"backtest {ctx.args.id}: {answer.get('status')}"
    except NotFoundError:
        sweep_run = ctx.client.bundle(ctx.args.id)
        counts = sweep_run.cancel()
        answer = {**counts, "id": ctx.args.id, "status": sweep_run.status}
        message = (
            f"sweep {ctx.args.id}: {counts['cancelled']} pending backtests cancelled, "
            f"{counts['cancel_requested']} running ones asked to stop"
        )
    if ctx.json:
        render.emit_json(ctx.out, answer)
    else:
        ctx.out.print(message)
    return 0
