#!/usr/bin/env bash
# From a fresh Debian 12 host (as root) to a running kata-exec and one sample execution:
#   bash scripts/quickstart.sh
# The service keeps running in the background (log: $KATA_EXEC_RUN_DIR/kata-exec.log);
# `bash scripts/quickstart.sh stop` stops it and the private containerd.
# The small default sandbox image (python, javascript, bash); KATA_EXEC_IMAGE_VARIANT=full
# builds and runs the full one (all the languages: C, C++, Go, Rust, Java, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
run=${KATA_EXEC_RUN_DIR:-/run/kata-exec}
port=${KATA_EXEC_PORT:-8080}
pidfile="$run/kata-exec.pid"

if [[ "${1:-}" == stop ]]; then
  [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null && echo "quickstart: service stopped"
  rm -f "$pidfile"
  for _ in $(seq 1 100); do pgrep -f "node dist/server.js" >/dev/null || break; sleep 0.2; done
  bash scripts/containerd.sh stop
  exit 0
fi

if [[ "${KATA_EXEC_IMAGE_VARIANT:-default}" == full ]]; then export KATA_EXEC_IMAGE=${KATA_EXEC_IMAGE:-toolruntime-sandbox-full:latest}; fi
bash scripts/setup.sh

if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "quickstart: kata-exec already running (pid $(cat "$pidfile"))"
else
  mkdir -p "$run"
  setsid node dist/server.js >>"$run/kata-exec.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
fi

for _ in $(seq 1 100); do
  if curl -fsS "localhost:$port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "quickstart: the service exited; see $run/kata-exec.log" >&2; tail -n 20 "$run/kata-exec.log" >&2; exit 1; fi
  sleep 0.2
done
curl -fsS "localhost:$port/readyz" >/dev/null || { echo "quickstart: not ready:" >&2; curl -sS "localhost:$port/readyz" >&2; exit 1; }

echo "quickstart: kata-exec is listening on localhost:$port (pid $(cat "$pidfile")); sample execution:"
echo "+ curl -s -XPOST localhost:$port/v1/execute -H 'content-type: application/json' -d '{\"language\":\"python\",\"code\":\"print(6*7)\"}'"
out=$(curl -sS -XPOST "localhost:$port/v1/execute" -H 'content-type: application/json' -d '{"language":"python","code":"print(6*7)"}')
echo "$out"
node -e 'const r=JSON.parse(process.argv[1]); if (r.stdout!=="42\n"||r.exitCode!==0) { console.error("quickstart: unexpected result"); process.exit(1) }' "$out"
