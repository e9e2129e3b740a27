"""API keys: random secrets shown once; only their hash (``core.auth.hash_api_key``) is stored."""

from __future__ import annotations

import secrets

KEY_PREFIX = "bt_"
#: Characters of a key kept in clear to tell keys apart in listings.
DISPLAY_PREFIX_LENGTH = 11


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]
