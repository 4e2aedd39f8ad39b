#!/usr/bin/env bash
# A private containerd for kata-exec, for hosts where the system one is absent.
#
#   scripts/containerd.sh start|stop|status
#
# Root, state and socket live under the project's state directories:
#   KATA_EXEC_STATE_DIR (/var/lib/kata-exec)  -> containerd root:  $STATE/containerd
#   KATA_EXEC_RUN_DIR   (/run/kata-exec)      -> containerd state: $RUN/containerd/state,
#                                                socket: $RUN/containerd/containerd.sock
# KATA_EXEC_SHIM_PATH: extra directories (':'-separated) put first on containerd's PATH,
# where it looks for containerd-shim-* binaries (e.g. where Kata installed its shim).
set -euo pipefail

state=${KATA_EXEC_STATE_DIR:-/var/lib/kata-exec}
run=${KATA_EXEC_RUN_DIR:-/run/kata-exec}
dir="$run/containerd"
sock="$dir/containerd.sock"
pidfile="$dir/containerd.pid"
log="$dir/containerd.log"

answers() { ctr --address "$sock" --connect-timeout 1s version >/dev/null 2>&1; }

case "${1:-}" in
  start)
    command -v containerd >/dev/null || { echo "containerd.sh: containerd is missing: apt-get install containerd runc" >&2; exit 1; }
    if answers; then echo "containerd.sh: already running at $sock"; exit 0; fi
    mkdir -p "$state/containerd" "$dir/state"
    cat >"$dir/config.toml" <<TOML
version = 2
root = "$state/containerd"
state = "$dir/state"
# kata-exec drives containerd through ctr only: no Kubernetes CRI plugin.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = "$dir/debug.sock"
TOML
    PATH="${KATA_EXEC_SHIM_PATH:+$KATA_EXEC_SHIM_PATH:}$PATH" setsid containerd --config "$dir/config.toml" >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if answers; then echo "containerd.sh: started at $sock (pid $(cat "$pidfile"))"; exit 0; fi
      kill -0 "$(cat "$pidfile")" 2>/dev/null || break
      sleep 0.1
    done
    echo "containerd.sh: containerd did not start; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$pidfile" ]]; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    echo "containerd.sh: stopped"
    ;;
  status)
    if answers; then echo "running at $sock"; else echo "not running"; exit 1; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
