"""Entry point of the compute PEX: ``backtest-compute --help`` lists every option.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 1 when the worker stopped
because one of its own tasks failed, 2 for bad configuration.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import uvloop

from backtest_compute.logs import configure_logging
from backtest_compute.settings import WorkerSettings
from backtest_compute.settings import parse_settings
from backtest_compute.worker import EXIT_FATAL
from backtest_compute.worker import Worker

EXIT_CONFIG = 2


async def serve(settings: WorkerSettings) -> int:
    """Run one worker until SIGTERM/SIGINT (a second signal skips the grace period)."""
    worker = Worker(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.request_stop)
    return await worker.run()


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse_settings(argv)
    except ValueError as exc:
        print(f"backtest-compute: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level)
    try:
        # uvloop: the worker's event loop does little but queue I/O, which uvloop runs at a
        # fraction of the CPU cost of asyncio's own loop.
        return uvloop.run(serve(settings))
    except Exception as exc:
        # E.g. the database stayed unreachable at start-up: say so in the log format, exit non-zero.
        logging.getLogger("backtest_compute").critical(
            "worker.fatal", exc_info=exc, extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}}
        )
        return EXIT_FATAL


if __name__ == "__main__":
    sys.exit(main())
