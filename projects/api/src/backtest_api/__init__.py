"""The HTTP API users talk to (Litestar): submit, watch and cancel backtests."""
