"""What a job is asked to do: a validated, hashable backtest configuration.

A config is decoded and validated completely before anything is written, so a
job in the queue always carries a config the engine accepts.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import msgspec

from backtest_shared.engine import ENGINE_VERSION
from backtest_shared.engine import EngineValidationError
from backtest_shared.engine import StrategySpec
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import strategy_to_builtins


class JobConfigError(ValueError):
    """A job config was refused; ``field`` names where, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class BacktestConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A backtest to run: which market data, which strategy."""

    dataset_id: uuid.UUID
    strategy: StrategySpec

    def to_json_dict(self) -> dict[str, Any]:
        return {"dataset_id": str(self.dataset_id), "strategy": strategy_to_builtins(self.strategy)}


def decode_backtest_config(raw: bytes | str | dict[str, Any]) -> BacktestConfig:
    """Parse and validate a config, naming the offending field on error."""
    if isinstance(raw, (bytes, str)):
        try:
            raw = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise JobConfigError("config", f"not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise JobConfigError("config", "expected a JSON object")
    unknown = set(raw) - {"dataset_id", "strategy"}
    if unknown:
        raise JobConfigError(sorted(unknown)[0], "unknown field")
    if "dataset_id" not in raw:
        raise JobConfigError("dataset_id", "required")
    if "strategy" not in raw:
        raise JobConfigError("strategy", "required")
    try:
        dataset_id = uuid.UUID(str(raw["dataset_id"]))
    except ValueError:
        raise JobConfigError("dataset_id", "not a valid UUID") from None
    try:
        strategy = decode_strategy(raw["strategy"])
    except EngineValidationError as exc:
        raise JobConfigError(f"strategy.{exc.field}" if exc.field else "strategy", exc.reason) from None
    return BacktestConfig(dataset_id=dataset_id, strategy=strategy)


def config_content_hash(strategy: StrategySpec, dataset_content_hash: str) -> str:
    """Identity of a result: the same strategy on the same data and engine gives the same answer."""
    canonical = msgspec.json.encode(strategy_to_builtins(strategy), order="sorted")
    digest = hashlib.sha256()
    digest.update(ENGINE_VERSION.encode())
    digest.update(b"\0")
    digest.update(dataset_content_hash.encode())
    digest.update(b"\0")
    digest.update(canonical)
    return digest.hexdigest()
