#!/usr/bin/env python3
"""Run code on kata-exec from Python, with the standard library only (urllib).

    KATA_EXEC_URL=http://localhost:8080 python3 examples/python/execute.py
    KATA_EXEC_TOKEN=kx_... python3 examples/python/execute.py bash 'echo hi; exit 3'

Settings (environment):
    KATA_EXEC_URL     the service (default http://localhost:8080)
    KATA_EXEC_TOKEN   an API key, sent as "Authorization: Bearer <token>" (when the
                      service has KATA_EXEC_API_KEYS)

Arguments: [LANGUAGE CODE] (default: python "print(6*7)"). It runs the program once and
prints its status and output, then runs a short program again with streaming
(Accept: text/event-stream) and prints each event as it arrives. It exits 1 when the
service refuses (the problem's code is printed) or the program does not end with status
"ok", and 2 when the service cannot be reached.
"""
import json
import os
import sys
import urllib.error
import urllib.request

BASE_URL = os.environ.get("KATA_EXEC_URL", "http://localhost:8080").rstrip("/")
TOKEN = os.environ.get("KATA_EXEC_TOKEN", "")


class Problem(Exception):
    """An RFC 9457 problem details answer (every 4xx and 5xx of the service)."""

    def __init__(self, status, body):
        self.status = status
        self.body = body
        super().__init__(f"{status} {body.get('code')}: {body.get('detail')}")


def _request(path, body=None, accept="application/json"):
    headers = {"Accept": accept}
    if TOKEN:
        headers["Authorization"] = f"Bearer {TOKEN}"
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(BASE_URL + path, data=data, headers=headers, method="POST" if data else "GET")
    try:
        return urllib.request.urlopen(req, timeout=120)
    except urllib.error.HTTPError as err:
        # 4xx/5xx: the body is a problem+json document with a stable `code`.
        raw = err.read().decode("utf-8", "replace")
        try:
            problem = json.loads(raw)
        except ValueError:
            problem = {"code": "HTTP_%d" % err.code, "detail": raw[:200]}
        if err.headers.get("Retry-After"):
            problem["retryAfter"] = err.headers["Retry-After"]
        raise Problem(err.code, problem) from None


def execute(language, code, **fields):
    """POST /v1/execute: the whole result once the program has ended."""
    with _request("/v1/execute", {"language": language, "code": code, **fields}) as res:
        return json.load(res)


def execute_stream(language, code, **fields):
    """POST /v1/execute with Accept: text/event-stream: yields (event, data) as they come."""
    res = _request("/v1/execute", {"language": language, "code": code, **fields}, accept="text/event-stream")
    with res:
        event, data = "message", []
        # Server-sent events: "event: NAME" and "data: JSON" lines, a blank line ends one.
        for raw in res:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data:
                    yield event, json.loads("\n".join(data))
                event, data = "message", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))


def main(argv):
    language, code = (argv[1], argv[2]) if len(argv) >= 3 else ("python", "print(6*7)")
    try:
        result = execute(language, code)
        print(f"status: {result['status']} (exit code {result['exitCode']}, {result['durationMs']} ms on {result['backend']['kind']})")
        print("stdout:")
        sys.stdout.write(result["stdout"])
        if result["stderr"]:
            print("stderr:")
            sys.stdout.write(result["stderr"])
        sys.stdout.flush()

        print("streaming:")
        streamed = None
        for event, data in execute_stream("python", "import time\nfor i in range(3):\n    print('tick', i)\n    time.sleep(0.2)"):
            if event == "start":
                print(f"  [start] {data['id']}")
            elif event in ("stdout", "stderr"):
                for line in data["data"].splitlines():
                    print(f"  [{event}] {line}")
            elif event == "result":
                streamed = data
                print(f"  [result] status={data['status']} exitCode={data['exitCode']}")
            elif event == "error":
                raise Problem(data["status"], data)
            sys.stdout.flush()
    except Problem as p:
        print(f"refused: HTTP {p.status} {p.body.get('code')}: {p.body.get('detail')}", file=sys.stderr)
        for e in p.body.get("errors", []):
            print(f"  {e['path']}: {e['message']}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as err:
        print(f"cannot reach {BASE_URL}: {err}", file=sys.stderr)
        return 2
    ok = result["status"] == "ok" and streamed is not None and streamed["status"] == "ok"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
