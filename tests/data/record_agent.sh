#!/usr/bin/env bash
# Record the end-to-end calibration example in tests/data/agent: REAL Locust runs against
# loadtest_server.py's /agent (8 slots, two rate-limited LLM calls per request) on
# 127.0.0.1, one run per user count, 60 s each. Locust is a recording tool, not a tarsim
# dependency: pip install locust.
# Usage: tests/data/record_agent.sh   (from the repository root; about 8 minutes)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
LOCUST=${LOCUST:-locust}
PORT=${PORT:-18766}
TARGET="http://127.0.0.1:${PORT}"
mkdir -p agent

for USERS in 1 2 4 6 8 12 16; do
    # a fresh server per run, so that every run starts with a full bucket
    "$PY" loadtest_server.py "$PORT" &
    SERVER=$!
    sleep 1
    TARSIM_PATH=/agent TARSIM_RAW="agent/u${USERS}_requests.csv" \
        "$LOCUST" -f locustfile.py --headless -u "$USERS" -r "$USERS" -t 60s \
        --host "$TARGET" --csv "agent/u${USERS}" --only-summary --loglevel WARNING \
        --exit-code-on-error 0
    kill "$SERVER"
    wait "$SERVER" 2>/dev/null || true
done
rm -f agent/*_exceptions.csv
echo "recorded: $(ls agent)"
