"""Self-contained HTML charts (inline SVG, no JavaScript, no plotting library).

An equity/drawdown/trades chart for one backtest and a heatmap for a sweep,
written as one HTML file that opens anywhere (a browser, a CI artifact, a
notebook cell through ``_repr_html_``) without installing matplotlib or
fetching scripts from the internet.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from backtest_client.results import Result

WIDTH, EQUITY_HEIGHT, DRAWDOWN_HEIGHT, PAD = 900, 300, 120, 50
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}"
    "td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}h1{font-size:20px}"
)


@dataclass(frozen=True)
class Chart:
    """An HTML document; shows itself in Jupyter, ``save`` writes it to a file."""

    html: str

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.html, encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        return self.html


def _scale(lo: float, hi: float, out_lo: float, out_hi: float) -> tuple[float, float]:
    span = (hi - lo) or 1.0
    factor = (out_hi - out_lo) / span
    return factor, out_lo - lo * factor


def _polyline(xs: Sequence[float], ys: Sequence[float], color: str, fill_to: float | None = None) -> str:
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    if fill_to is not None and xs:
        points = f"{xs[0]:.1f},{fill_to:.1f} {points} {xs[-1]:.1f},{fill_to:.1f}"
        return f'<polygon points="{points}" fill="{color}" fill-opacity="0.35" stroke="{color}"/>'
    return f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.5"/>'


def _axis_labels(x0: float, x1: float, y: float, first: pd.Timestamp, last: pd.Timestamp) -> str:
    return (
        f'<text x="{x0}" y="{y}" font-size="11">{first:%Y-%m-%d}</text>'
        f'<text x="{x1}" y="{y}" font-size="11" text-anchor="end">{last:%Y-%m-%d}</text>'
    )


def _svg(result: Result) -> str:
    equity, drawdown, trades = result.equity, result.drawdown, result.trades
    if equity.empty:
        return "<p>No equity curve.</p>"
    seconds = equity.index.asi8 / 1e9
    x_factor, x_offset = _scale(float(seconds.min()), float(seconds.max()), PAD, WIDTH - 10)
    xs = [x * x_factor + x_offset for x in seconds]
    lo, hi = float(equity.min()), float(equity.max())
    e_factor, e_offset = _scale(lo, hi, EQUITY_HEIGHT - 20, 10)
    top = EQUITY_HEIGHT + 20
    dd_low = min(float(drawdown.min()), -1e-9)
    d_factor, d_offset = _scale(dd_low, 0.0, top + DRAWDOWN_HEIGHT, top)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{top + DRAWDOWN_HEIGHT + 30}">',
        f'<text x="5" y="20" font-size="11">{hi:,.0f}</text><text x="5" y="{EQUITY_HEIGHT - 20}" '
        f'font-size="11">{lo:,.0f}</text>',
        _polyline(xs, [v * e_factor + e_offset for v in equity], "#1f77b4"),
        _polyline(xs, [v * d_factor + d_offset for v in drawdown], "#d62728", fill_to=top),
        f'<text x="5" y="{top + 12}" font-size="11">0 %</text>'
        f'<text x="5" y="{top + DRAWDOWN_HEIGHT}" font-size="11">{dd_low:.0%}</text>',
    ]
    for _, trade in trades.iterrows():
        for column, color, shape in (("entry_time", "#2ca02c", "▲"), ("exit_time", "#555", "▼")):
            when = trade[column].timestamp()
            if not seconds.min() <= when <= seconds.max():
                continue
            value = float(equity.asof(trade[column])) if trade[column] >= equity.index[0] else equity.iloc[0]
            title = html.escape(
                f"{trade['side']} {column.split('_')[0]} {trade[column]:%Y-%m-%d %H:%M} "
                f"@ {trade['entry_price' if column == 'entry_time' else 'exit_price']:.4g}"
            )
            parts.append(
                f'<text x="{when * x_factor + x_offset:.1f}" y="{value * e_factor + e_offset:.1f}" font-size="9" '
                f'fill="{color}" text-anchor="middle"><title>{title}</title>{shape}</text>'
            )
    parts.append(_axis_labels(PAD, WIDTH - 10, top + DRAWDOWN_HEIGHT + 20, equity.index[0], equity.index[-1]))
    parts.append("</svg>")
    return "".join(parts)


def _metrics_table(metrics: pd.Series) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in metrics.items())
    return f"<table>{rows}</table>"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.4g}"
    return "—" if value is None else html.escape(str(value))


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def result_chart(result: Result, title: str) -> Chart:
    """Equity (blue) with entries ▲ and exits ▼, drawdown (red) below, metrics beside."""
    body = f"<div style='display:flex;gap:24px'><div>{_svg(result)}</div>{_metrics_table(result.metrics)}</div>"
    return Chart(_page(title, body))


def _color(value: float, lo: float, hi: float) -> str:
    t = 0.5 if hi == lo else (value - lo) / (hi - lo)
    red, green = int(255 * (1 - t)), int(200 * t + 55)
    return f"rgb({red},{green},90)"


def heatmap(frame: pd.DataFrame, x: str, y: str, metric: str, title: str | None = None) -> Chart:
    """A sweep's ``metric`` over two parameters (mean where other parameters vary too)."""
    table = frame.pivot_table(index=y, columns=x, values=metric, aggfunc="mean")
    values = [float(v) for v in table.to_numpy().ravel() if pd.notna(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for label, row in table.iterrows():
        cells = "".join(
            (
                f"<td style='background:{_color(float(v), lo, hi)}' title='{x}={c}, {y}={label}: {float(v):.4g}'>"
                f"{float(v):.3g}</td>"
                if pd.notna(v)
                else "<td></td>"
            )
            for c, v in row.items()
        )
        rows.append(f"<tr><th>{html.escape(str(label))}</th>{cells}</tr>")
    body = (
        f"<p>{html.escape(metric)} by {html.escape(x)} (columns) and {html.escape(y)} (rows)</p>"
        f"<table><tr><th>{html.escape(y)} \\ {html.escape(x)}</th>{head}</tr>{''.join(rows)}</table>"
    )
    return Chart(_page(title or f"{metric} heatmap", body))
