#!/usr/bin/env bash
# kata-exec from the shell, with curl: an execution, the runtimes, a streaming execution.
#
#   KATA_EXEC_URL=http://localhost:8080 bash examples/curl/execute.sh
#   KATA_EXEC_TOKEN=kx_... bash examples/curl/execute.sh     # when the service has API keys
#
# Exits non-zero when a request fails (curl --fail-with-body prints the problem body).
set -euo pipefail

url=${KATA_EXEC_URL:-http://localhost:8080}
url=${url%/}
auth=()
if [[ -n "${KATA_EXEC_TOKEN:-}" ]]; then auth=(-H "authorization: Bearer ${KATA_EXEC_TOKEN}"); fi

echo "== POST /v1/execute"
curl -sS --fail-with-body "${auth[@]}" -X POST "$url/v1/execute" \
  -H 'content-type: application/json' \
  -d '{"language":"python","code":"print(6*7)"}'
echo

echo "== POST /v1/execute with files, an entrypoint, stdin, args and env"
curl -sS --fail-with-body "${auth[@]}" -X POST "$url/v1/execute" \
  -H 'content-type: application/json' \
  -d '{
    "language": "python",
    "files": [
      {"path": "app/main.py", "content": "import sys, os\nfrom app_lib import shout\nprint(shout(sys.stdin.readline().strip()), sys.argv[1:], os.environ[\"GREETING\"])"},
      {"path": "app/app_lib.py", "content": "ZGVmIHNob3V0KHMpOgogICAgcmV0dXJuIHMudXBwZXIoKQo=", "encoding": "base64"}
    ],
    "entrypoint": "app/main.py",
    "stdin": "hello\n",
    "args": ["--verbose"],
    "env": {"GREETING": "hi"}
  }'
echo

echo "== GET /v1/runtimes"
curl -sS --fail-with-body "${auth[@]}" "$url/v1/runtimes"
echo

echo "== POST /v1/execute, streaming (Accept: text/event-stream)"
# -N: no buffering, each event is printed as the program writes.
curl -sS -N --fail-with-body "${auth[@]}" -X POST "$url/v1/execute" \
  -H 'content-type: application/json' \
  -H 'accept: text/event-stream' \
  -d '{"language":"bash","code":"for i in 1 2 3; do echo tick $i; sleep 0.2; done"}'
