"""Validation error raised by the engine for bad specs and bad data.

Array conventions: none (this module handles no arrays). Every error carries a
dotted ``field`` path (``"indicators.fast.period"``, ``"data.high[17]"``) and a
human readable ``reason``; ``str(error) == f"{field}: {reason}"``.
"""

from __future__ import annotations

import re

import msgspec

__all__ = ["EngineValidationError", "from_msgspec_error"]

_AT_PATH = re.compile(r"^(?P<msg>.*?) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`")


class EngineValidationError(ValueError):
    """A spec or data set failed validation; raised before any work starts."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def __reduce__(self) -> tuple[type[EngineValidationError], tuple[str, str]]:
        return (type(self), (self.field, self.reason))


def _join(prefix: str, path: str) -> str:
    path = path.lstrip(".")
    if not prefix:
        return path
    if not path:
        return prefix
    if path.startswith("["):
        return prefix + path
    return f"{prefix}.{path}"


def from_msgspec_error(err: msgspec.DecodeError, prefix: str = "") -> EngineValidationError:
    """Convert a msgspec error (``"... - at `$.a.b`"``) into field ``"a.b"``."""
    text = str(err)
    path = ""
    match = _AT_PATH.match(text)
    if match is not None:
        text = match.group("msg")
        path = match.group("path")
    field = _join(prefix, path)
    unknown = _UNKNOWN.match(text)
    if unknown is not None:
        return EngineValidationError(_join(field, unknown.group("name")), "unknown field")
    missing = _MISSING.match(text)
    if missing is not None:
        return EngineValidationError(_join(field, missing.group("name")), "required field is missing")
    if not isinstance(err, msgspec.ValidationError) and not field:
        return EngineValidationError("spec", f"malformed JSON: {text}")
    return EngineValidationError(field or "spec", text)
