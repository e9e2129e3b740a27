#!/usr/bin/env bash
# A sweep of the SMA cross over the sample data: 10 fast x 19 slow periods, only fast < slow,
# the ten best by Sharpe, then a heatmap of the whole sweep.
# Needs BACKTEST_API_URL and BACKTEST_API_KEY (or ~/.config/backtest/config.toml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

data_id="$(backtest data upload data/sample_hourly.csv --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
backtest sweep strategies/sma_cross.json --data "$data_id" \
  --grid fast.period=5:50:5 --grid slow.period=20:200:10 \
  --where 'fast.period < slow.period' --top 10 --json > sweep.json
sweep_id="$(python3 -c 'import json; print(json.load(open("sweep.json"))["id"])')"
backtest show "$sweep_id" --top 10 --chart sweep.html
echo "heatmap written to $(pwd)/sweep.html"
