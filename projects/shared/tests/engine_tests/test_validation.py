"""Bad specs and bad data give a clear error naming the field, before any work."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from backtest_shared.engine import OHLCV
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.engine import validate_ohlcv
from backtest_shared.engine import validate_strategy
from backtest_shared.engine.spec import SMA
from backtest_shared.engine.spec import Rule
from backtest_shared.engine.spec import StrategySpec


def _with(**changes: Any) -> dict[str, Any]:
    return {**STRATEGY_A_EXAMPLE, **changes}


def _error(raw: Any) -> EngineValidationError:
    with pytest.raises(EngineValidationError) as info:
        decode_strategy(raw)
    return info.value


def test_error_string_is_field_colon_reason() -> None:
    err = EngineValidationError("indicators.fast.period", "must be >= 1")
    assert str(err) == "indicators.fast.period: must be >= 1"
    assert isinstance(err, ValueError)


def test_period_of_zero_is_rejected_with_its_dotted_path() -> None:
    err = _error(
        _with(
            indicators={
                "fast": {"kind": "sma", "period": 0},
                "slow": {"kind": "sma", "period": 5},
            }
        )
    )
    assert err.field == "indicators.fast.period"
    assert ">= 1" in err.reason


def test_unknown_indicator_kind_is_rejected_listing_the_known_ones() -> None:
    err = _error(
        _with(
            indicators={
                "fast": {"kind": "hma", "period": 3},
                "slow": {"kind": "sma", "period": 5},
            }
        )
    )
    assert err.field == "indicators.fast.kind"
    assert "hma" in err.reason and "sma" in err.reason


def test_negative_fee_is_rejected() -> None:
    err = _error(_with(costs={"fee_bps": -1}))
    assert err.field == "costs.fee_bps"


def test_stop_of_500_percent_is_rejected() -> None:
    err = _error(_with(money={"stop_loss_pct": 500}))
    assert err.field == "money.stop_loss_pct"
    assert "100" in err.reason


def test_unknown_fields_are_rejected_at_any_depth() -> None:
    assert _error(_with(colour="red")).field == "colour"
    assert _error(_with(money={"stop": 2})).field == "money.stop"


def test_condition_referencing_an_unknown_series_is_rejected() -> None:
    raw = _with(entry={"conditions": [{"kind": "crosses_above", "left": "fats", "right": "slow"}]})
    err = _error(raw)
    assert err.field == "entry.conditions[0].left"
    assert "fats" in err.reason


def test_condition_referencing_an_unknown_sub_output_is_rejected() -> None:
    raw = _with(entry={"conditions": [{"kind": "crosses_above", "left": "fast.upper", "right": "slow"}]})
    assert _error(raw).field == "entry.conditions[0].left"


def test_macd_fast_must_be_below_slow() -> None:
    raw = _with(
        indicators={"m": {"kind": "macd", "fast": 26, "slow": 12}},
        entry={"conditions": [{"kind": "crosses_above", "left": "m", "right": "m.signal"}]},
        exit={"conditions": []},
    )
    assert _error(raw).field == "indicators.m.fast"


def test_malformed_json_and_wrong_types_are_rejected() -> None:
    assert _error(b"{not json").field == "spec"
    assert _error("[1, 2]").field == "spec"
    assert _error(_with(initial_capital="lots")).field == "initial_capital"
    assert _error({"indicators": {}}).field == "entry"


def test_entry_rule_needs_a_condition() -> None:
    assert _error(_with(entry={"conditions": []})).field == "entry.conditions"


def test_specs_built_in_python_are_validated_too() -> None:
    spec = StrategySpec(indicators={"x": SMA(period=0)}, entry=Rule(conditions=()))
    with pytest.raises(EngineValidationError) as info:
        validate_strategy(spec)
    assert info.value.field == "indicators.x.period"


def _bad(**arrays: Any) -> OHLCV:
    d = synthetic_ohlcv(100, seed=3)
    fields = {k: np.array(getattr(d, k)) for k in ("timestamps", "open", "high", "low", "close", "volume")}
    for name, (index, value) in arrays.items():
        fields[name][index] = value
    return OHLCV(**fields)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"close": (17, np.nan)}, "data.close[17]", "finite"),
        ({"open": (3, np.inf)}, "data.open[3]", "finite"),
        ({"timestamps": (10, 0)}, "data.timestamps[10]", "increase"),
        ({"high": (5, 1.0)}, "data.high[5]", "below low"),
        ({"open": (7, 1000.0)}, "data.open[7]", "above high"),
        ({"close": (8, 0.5)}, "data.close[8]", "below low"),
        ({"low": (9, -1.0)}, "data.low[9]", "positive"),
        ({"volume": (4, -5.0)}, "data.volume[4]", "negative"),
    ],
)
def test_bad_bars_are_named_by_column_and_row(change: dict[str, Any], field: str, words: str) -> None:
    data = _bad(**change)
    with pytest.raises(EngineValidationError) as info:
        validate_ohlcv(data)
    assert info.value.field == field
    assert words in info.value.reason
    with pytest.raises(EngineValidationError):
        run_backtest(data, decode_strategy(STRATEGY_A_EXAMPLE))


def test_too_few_bars_for_the_warm_up_is_rejected_before_any_work() -> None:
    calls: list[float] = []
    with pytest.raises(EngineValidationError) as info:
        run_backtest(
            synthetic_ohlcv(51, seed=1),
            decode_strategy(STRATEGY_A_EXAMPLE),
            progress=calls.append,
        )
    assert info.value.field == "data"
    assert "52" in info.value.reason
    assert calls == []
    run_backtest(synthetic_ohlcv(52, seed=1), decode_strategy(STRATEGY_A_EXAMPLE))


def test_mismatched_array_lengths_are_rejected() -> None:
    d = synthetic_ohlcv(10)
    bad = OHLCV(d.timestamps, d.open, d.high, d.low, d.close[:-1], d.volume)
    with pytest.raises(EngineValidationError) as info:
        validate_ohlcv(bad)
    assert info.value.field == "data.close"
