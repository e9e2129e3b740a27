"""Entry point of the compute PEX (placeholder until the worker lands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("backtest-compute: not implemented yet", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
