#!/usr/bin/env bash
# The whole test suite, from a fresh clone (as root): installs what it needs, then runs
# the type check and every tier: unit, http, integration and hostile. The integration
# tiers start a private containerd of their own and fail, never skip, when it cannot run.
#
# TEST_RUNTIMES (default runc,gvisor) picks the runtimes of the integration suite; on a
# Kata host: TEST_RUNTIMES=kata npm test
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh deps
npm run --silent typecheck
exec npx vitest run "$@"
