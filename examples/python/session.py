#!/usr/bin/env python3
"""A kata-exec session from Python, with the standard library only (urllib): one sandbox
kept across steps, with a file round trip.

    KATA_EXEC_URL=http://localhost:8080 KATA_EXEC_TOKEN=kx_... python3 examples/python/session.py

It creates a session, uploads data/in.csv (raw bytes, PUT), runs a Python program in the
session that reads it and writes out/summary.json, downloads that file, lists out/, runs a
second call that sees the first call's file, and deletes the session (also when a step
fails). It prints each step and exits 0, or 1 when the service refuses (the problem's code
is printed), or 2 when the service cannot be reached.
"""
import json
import os
import sys
import urllib.error
import urllib.request

BASE_URL = os.environ.get("KATA_EXEC_URL", "http://localhost:8080").rstrip("/")
TOKEN = os.environ.get("KATA_EXEC_TOKEN", "")


class Problem(Exception):
    def __init__(self, status, body):
        self.status = status
        self.body = body
        super().__init__(f"{status} {body.get('code')}: {body.get('detail')}")


def call(method, path, json_body=None, raw=None):
    headers = {}
    if TOKEN:
        headers["Authorization"] = f"Bearer {TOKEN}"
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    elif raw is not None:
        data = raw
        headers["Content-Type"] = "application/octet-stream"
    req = urllib.request.Request(BASE_URL + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=120) as res:
            body = res.read()
            expires = res.headers.get("X-Session-Expires-At")
            if "json" in (res.headers.get("Content-Type") or ""):
                return json.loads(body), expires
            return body, expires
    except urllib.error.HTTPError as err:
        raise Problem(err.code, json.loads(err.read().decode("utf-8", "replace") or "{}")) from None


def main():
    session, _ = call("POST", "/v1/sessions", {"profile": "standard", "idleTimeoutMs": 120000})
    sid = session["id"]
    print(f"session {sid}, expires at {session['expiresAt']}")
    try:
        csv = b"name,score\nada,36\nalan,41\ngrace,45\n"
        written, _ = call("PUT", f"/v1/sessions/{sid}/files/data/in.csv", raw=csv)
        print(f"uploaded {written['path']} ({written['size']} bytes)")

        program = (
            "import csv, json, os\n"
            "rows = list(csv.DictReader(open('data/in.csv')))\n"
            "os.makedirs('out', exist_ok=True)\n"
            "json.dump({'n': len(rows), 'total': sum(int(r['score']) for r in rows)}, open('out/summary.json', 'w'))\n"
            "print('summarised', len(rows), 'rows')\n"
        )
        result, _ = call("POST", f"/v1/sessions/{sid}/execute", {"language": "python", "code": program})
        print(f"run 1: {result['status']}: {result['stdout'].strip()}")
        if result["status"] != "ok":
            print(result["stderr"], file=sys.stderr)
            return 1

        summary, expires = call("GET", f"/v1/sessions/{sid}/files/out/summary.json")
        print(f"downloaded out/summary.json: {json.dumps(summary)} (session expires at {expires})")
        listing, _ = call("GET", f"/v1/sessions/{sid}/files?path=out")
        print("out/: " + ", ".join(f"{e['path']} ({e['size']} bytes)" for e in listing["entries"]))

        again, _ = call("POST", f"/v1/sessions/{sid}/execute", {"language": "bash", "code": "cat out/summary.json"})
        print(f"run 2 sees it: {again['stdout'].strip()}")
        return 0 if summary == {"n": 3, "total": 122} else 1
    finally:
        call("DELETE", f"/v1/sessions/{sid}")
        print(f"session {sid} deleted")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Problem as p:
        print(f"refused: {p}", file=sys.stderr)
        sys.exit(1)
    except urllib.error.URLError as e:
        print(f"cannot reach {BASE_URL}: {e.reason}", file=sys.stderr)
        sys.exit(2)
