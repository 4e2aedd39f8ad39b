#!/usr/bin/env bash
# The whole test suite, from a fresh clone (as root): installs what it needs, then runs
# the type check and every tier: unit, http, integration and hostile, then the Kata tier.
# The integration tiers start a private containerd of their own and fail, never skip, when
# it cannot run.
#
# TEST_RUNTIMES (default runc,gvisor) picks the runtimes of the integration suite; on a
# Kata host: TEST_RUNTIMES=kata npm test
#
# The Kata tier (vitest project `kata`, test/kata/) boots real Kata VMs. Where the Kata kit
# is beside the clone (../shared/kata), it is installed (KATA_EXEC_KATA_KIT, default
# /opt/kata-kit) and the tier runs: a failing Kata test fails the run. Without the kit, the
# tier runs where a Kata shim is on PATH, and otherwise does not run; the closing lines
# say which runtimes were tested. KATA_EXEC_REQUIRE_KATA=1 (set by .ci/run) makes a missing
# kit and shim a failure, at once, rather than a run without the Kata tier.
set -euo pipefail
cd "$(dirname "$0")/.."

kit_src=../shared/kata
kata_shim() { command -v containerd-shim-kata-v2 >/dev/null || command -v containerd-shim-kata-qemu-v2 >/dev/null; }
if [[ ${KATA_EXEC_REQUIRE_KATA:-0} == 1 && ! -f $kit_src/install.sh ]] && ! kata_shim; then
  echo "test.sh: KATA_EXEC_REQUIRE_KATA=1, but there is no Kata kit at $(realpath -m "$kit_src") and no Kata shim on PATH: the Kata tier cannot run" >&2
  exit 1
fi

# How long each tier took, printed at the end whatever happened.
timings=()
tier() {
  local name=$1 t0=$SECONDS rc=0
  shift
  "$@" || rc=$?
  timings+=("$(printf '%-28s %5d s%s' "$name" $((SECONDS - t0)) "$([[ $rc -eq 0 ]] || echo "  (failed, exit $rc)")")")
  return "$rc"
}
timings_printed=0
print_timings() {
  [[ $timings_printed -eq 0 ]] || return 0
  timings_printed=1
  echo "tiers:"
  printf '  %s\n' "${timings[@]}"
  printf '  %-28s %5d s\n' total "$SECONDS"
}
# A tier that stops the script early (set -e) still gets its times printed.
trap print_timings EXIT

tier "set-up" bash scripts/setup.sh test
tier "typecheck" npm run --silent typecheck
# Deploy manifests (Kubernetes schemas, offline) and the systemd unit.
tier "deploy validation" bash scripts/validate-deploy.sh

kata=none
if [[ -f $kit_src/install.sh ]]; then
  export KATA_EXEC_KATA_KIT=${KATA_EXEC_KATA_KIT:-/opt/kata-kit}
  # install.sh is idempotent; a stamp of the kit's own checksums skips it when nothing changed.
  stamp=$KATA_EXEC_KATA_KIT/.kata-exec-installed
  want=$(cat "$kit_src/SHA256SUMS" "$kit_src/install.sh" | sha256sum | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" || ! -f $KATA_EXEC_KATA_KIT/env.sh ]]; then
    tier "kata kit install" bash "$kit_src/install.sh" "$KATA_EXEC_KATA_KIT"
    echo "$want" >"$stamp"
  fi
  kata="kit"
elif kata_shim; then
  kata="host"
fi

results=$(mktemp /tmp/kata-exec-vitest.XXXXXX.json)
integration_results=$(mktemp /tmp/kata-exec-vitest-integration.XXXXXX.json)
kata_results=$(mktemp /tmp/kata-exec-vitest-kata.XXXXXX.json)
trap 'print_timings; rm -f "$results" "$integration_results" "$kata_results"' EXIT
status=0
run_vitest() { npx vitest run --reporter=default --reporter=json --outputFile="$@"; }
if [[ $# -gt 0 ]]; then
  [[ $kata == none ]] || kata=unselected
  tier "vitest $*" run_vitest "$results" "$@" || status=1
else
  tier "unit + http" run_vitest "$results" --project unit --project http || status=1
  tier "integration + hostile" run_vitest "$integration_results" --project integration || status=1
  # The container image: built here with podman from a local base, run against containerd.
  tier "container" bash scripts/test-container.sh || status=1
  if [[ $kata != none ]]; then
    tier "kata (real VMs)" run_vitest "$kata_results" --project kata || status=1
  fi
fi
print_timings
# Plain closing lines: counts from vitest's own JSON reports (skipped tests are none here),
# then which runtimes were tested.
node -e '
  const fs = require("fs");
  const [, main, integrationFile, kataFile, kata, runtimes, kit] = process.argv;
  const count = (f) => { try { const r = JSON.parse(fs.readFileSync(f, "utf8")); return r.numTotalTests ? r : null; } catch { return null; } };
  const reports = [count(main), count(integrationFile), count(kataFile)].filter(Boolean);
  const sum = (k) => reports.reduce((n, r) => n + r[k], 0);
  const skipped = sum("numPendingTests") + sum("numTodoTests");
  console.log(`${sum("numPassedTests")} passed, ${sum("numFailedTests")} failed` + (skipped ? `, ${skipped} skipped` : ""));
  const kataLine = kata === "kit" ? `kata (real VMs through the Kata kit at ${kit})`
    : kata === "host" ? "kata (real VMs through the Kata shim on PATH)"
    : kata === "unselected" ? "not kata (only the tests named on the command line ran)"
    : "not kata (no ../shared/kata kit and no Kata shim on PATH: the Kata tier did not run)";
  console.log(`runtimes tested: ${runtimes} (integration and hostile tiers); ${count(kataFile) || kata === "none" || kata === "unselected" ? kataLine : "kata tier: no report (it failed to start)"}`);
  // The failed tests by name, last: a CI log seen only by its tail still says which.
  for (const r of reports) for (const f of r.testResults ?? []) for (const t of f.assertionResults ?? []) {
    if (t.status === "failed") console.log(`failed: ${f.name.replace(process.cwd() + "/", "")} > ${t.fullName}: ${String(t.failureMessages?.[0] ?? "").split("\n")[0].slice(0, 200)}`);
  }
' "$results" "$integration_results" "$kata_results" "$kata" "${TEST_RUNTIMES:-runc,gvisor}" "${KATA_EXEC_KATA_KIT:-}" || true
exit "$status"
