#!/usr/bin/env bash
# The whole test suite, from a fresh clone (as root): installs what it needs, then runs
# the type check and every tier: unit, http, integration and hostile. The integration
# tiers start a private containerd of their own and fail, never skip, when it cannot run.
#
# TEST_RUNTIMES (default runc,gvisor) picks the runtimes of the integration suite; on a
# Kata host: TEST_RUNTIMES=kata npm test
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
npm run --silent typecheck
# Deploy manifests (Kubernetes schemas, offline) and the systemd unit.
bash scripts/validate-deploy.sh
results=$(mktemp /tmp/kata-exec-vitest.XXXXXX.json)
trap 'rm -f "$results"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$results" "$@" || status=$?
# The container image: built here with podman from a local base, run against containerd.
if [[ $# -eq 0 ]]; then bash scripts/test-container.sh || status=1; fi
# A plain closing line: counts from vitest's own JSON report (skipped tests are none here).
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results" || true
exit "$status"
