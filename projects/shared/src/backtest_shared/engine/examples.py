"""Example strategy specs in JSON shape (used by API docs, demos, benchmarks).

Array conventions: none (plain dicts).
"""

from __future__ import annotations

from typing import Any

__all__ = ["RSI_BOTH_EXAMPLE", "STRATEGY_A_EXAMPLE", "STRATEGY_B_EXAMPLE"]

STRATEGY_A_EXAMPLE: dict[str, Any] = {
    "name": "sma_10_50_cross_long",
    "indicators": {
        "fast": {"kind": "sma", "period": 10, "source": "close"},
        "slow": {"kind": "sma", "period": 50, "source": "close"},
    },
    "entry": {
        "combine": "all",
        "conditions": [{"kind": "crosses_above", "left": "fast", "right": "slow"}],
    },
    "exit": {
        "combine": "any",
        "conditions": [{"kind": "crosses_below", "left": "fast", "right": "slow"}],
    },
    "direction": "long",
    "money": {"position_size": 1.0, "leverage": 1.0},
    "costs": {"fee_bps": 10.0, "slippage_bps": 0.0},
    "initial_capital": 10000.0,
}

STRATEGY_B_EXAMPLE: dict[str, Any] = {
    **STRATEGY_A_EXAMPLE,
    "name": "sma_10_50_cross_long_stop2_target4",
    "money": {
        "position_size": 1.0,
        "leverage": 1.0,
        "stop_loss_pct": 2.0,
        "take_profit_pct": 4.0,
    },
}

RSI_BOTH_EXAMPLE: dict[str, Any] = {
    "name": "rsi_reversal_both",
    "indicators": {
        "rsi": {"kind": "rsi", "period": 14},
        "trend": {"kind": "ema", "period": 100},
    },
    "entry": {
        "combine": "all",
        "conditions": [
            {"kind": "crosses_above", "left": "rsi", "right": 30},
            {"kind": "greater_than", "left": "close", "right": "trend"},
        ],
    },
    "exit": {
        "combine": "any",
        "conditions": [{"kind": "crosses_below", "left": "rsi", "right": 70}],
    },
    "direction": "both",
    "money": {"position_size": 0.5, "leverage": 2.0, "trailing_stop_pct": 5.0},
    "costs": {"fee_bps": 5.0, "slippage_bps": 2.0},
    "initial_capital": 100000.0,
}
