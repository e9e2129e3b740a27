"""Entry point of the API PEX (placeholder until the API lands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("backtest-api: not implemented yet", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
