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
#
# KATA_EXEC_KATA_KIT=PREFIX: the Kata kit's mode (../shared/kata, installed at PREFIX). Kata 1.x
# shares the rootfs with the VM through mount propagation and uses fixed host paths, so
# containerd gets its own mount namespace with / rshared and /run/vc, /run/kata-containers and
# /run/netns bound to private directories under $RUN/containerd/kata; PREFIX/env.sh sets its PATH
# and KATA_CONF_FILE, and a kata-syslog-sink takes Kata's log ($RUN/containerd/kata/kata.log).
# The service then makes its mounts in that namespace (nsenter -t <containerd pid> -m).
set -euo pipefail

state=${KATA_EXEC_STATE_DIR:-/var/lib/kata-exec}
run=${KATA_EXEC_RUN_DIR:-/run/kata-exec}
dir="$run/containerd"
sock="$dir/containerd.sock"
pidfile="$dir/containerd.pid"
log="$dir/containerd.log"
kit=${KATA_EXEC_KATA_KIT:-}
kdir="$dir/kata"

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
    if [[ -n $kit ]]; then
      [[ -f $kit/env.sh ]] || { echo "containerd.sh: $kit/env.sh is missing: install the kit (bash ../shared/kata/install.sh $kit)" >&2; exit 1; }
      mkdir -p "$kdir"/{run-vc,run-kata,run-netns} /run/vc /run/kata-containers /run/netns
      # Exported before env.sh is sourced, or Kata's log goes nowhere (the kit's README).
      export KATA_SYSLOG_SOCKET="$kdir/syslog.sock"
      # shellcheck source=/dev/null
      . "$kit/env.sh"
      # A start after containerd died (a restart) ends the sink of the earlier start first.
      if [[ -f $kdir/syslog-sink.pid ]]; then kill "$(cat "$kdir/syslog-sink.pid")" 2>/dev/null || true; fi
      setsid "$kit/bin/kata-syslog-sink" "$KATA_SYSLOG_SOCKET" "$kdir/kata.log" </dev/null >/dev/null 2>&1 &
      echo $! >"$kdir/syslog-sink.pid"
      # unshare and sh exec in turn, so $! is containerd's own pid.
      PATH="${KATA_EXEC_SHIM_PATH:+$KATA_EXEC_SHIM_PATH:}$PATH" setsid unshare --mount --propagation private sh -c '
        mount --bind "$1/run-vc" /run/vc && mount --bind "$1/run-kata" /run/kata-containers &&
        mount --bind "$1/run-netns" /run/netns && mount --make-rshared / &&
        exec containerd --config "$2"' sh "$kdir" "$dir/config.toml" >>"$log" 2>&1 </dev/null &
    else
      PATH="${KATA_EXEC_SHIM_PATH:+$KATA_EXEC_SHIM_PATH:}$PATH" setsid containerd --config "$dir/config.toml" >>"$log" 2>&1 </dev/null &
    fi
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
    if [[ -f $kdir/syslog-sink.pid ]]; then
      kill "$(cat "$kdir/syslog-sink.pid")" 2>/dev/null || true
      rm -f "$kdir/syslog-sink.pid"
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
