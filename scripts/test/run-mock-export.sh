#!/usr/bin/env bash
# Runs export-bundle.sh against a local mock of the Dataverse Web API and Microsoft Graph
# that serves the test fixture (paged where the fixture is paged, and refusing `$select`
# of a column the "older org" lacks), then checks that `mailgate audit` reads the export
# exactly as it reads the fixture. Needs python3, curl, jq and a built mailgate.
set -euo pipefail
cd "$(dirname "$0")/../.."
PORT="${PORT:-18765}"
FIXTURE=tests/fixtures/audit/contoso
OUT="$(mktemp -d)"
python3 scripts/test/mock-webapi.py "$FIXTURE" "$PORT" 2>"$OUT/requests.log" &
MOCK=$!
trap 'kill $MOCK; rm -rf "$OUT"' EXIT
sleep 1
DATAVERSE_TOKEN=dv-token GRAPH_TOKEN=graph-token GRAPH_URL="http://127.0.0.1:$PORT/graph" \
  scripts/export-bundle.sh "http://127.0.0.1:$PORT" "$OUT/bundle"
MAILGATE="${MAILGATE:-target/debug/mailgate}"
# Mailbox and user records must match; the summary names the bundle's folder.
diff <("$MAILGATE" audit --format json "$OUT/bundle" | grep -v '"summary"') \
     <("$MAILGATE" audit --format json "$FIXTURE" | grep -v '"summary"')
echo "ok: the export of the mock reads like the fixture ($(grep -c skiptoken "$OUT/requests.log") follow-up pages)"
