#!/usr/bin/env bash
# deploy/systemd/kata-exec.service run for real under systemd, on a host without systemd
# as PID 1 (as root): a podman container boots systemd (Debian bookworm, made from the
# locally built base image), with Debian's containerd.service and the kata-exec unit
# exactly as shipped (the environment file from kata-exec.env.example, runtime runc). It
# checks that:
#   - the unit starts with all its hardening in force (capability bounding set, seccomp,
#     no new privileges) and answers /readyz;
#   - it runs in PID 1's mount namespace, and a sample execution (python print(6*7))
#     returns "42\n": its rootfs mount reached containerd;
#   - with ProtectSystem=strict added (a drop-in), the unit gets its own mount namespace
#     and executions fail: the reason the unit does without it;
#   - `systemctl stop` drains and the service exits 0.
# Not part of CI (it boots a systemd container; about a minute once the base is built).
#
#   scripts/test-systemd-unit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$SECONDS
log() { echo "test-systemd-unit: $*"; }
die() { echo "test-systemd-unit: FAIL: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root"
for p in podman debootstrap; do command -v "$p" >/dev/null || die "$p is missing (apt-get install -y podman buildah debootstrap)"; done
[[ -x node_modules/.bin/tsc ]] || die "run npm ci first"
archive=${KATA_EXEC_STATE_DIR:-/var/lib/kata-exec}/images/sandbox.oci.tar
[[ -f "$archive" ]] || die "$archive is missing: bash scripts/setup.sh deps"

base=${KATA_EXEC_NODE_IMAGE:-localhost/kata-exec-node:20}
bash scripts/build-node-base.sh "$base" >/dev/null
tmp=$(mktemp -d /var/tmp/kx-sdtest.XXXXXX)
tag="localhost/kata-exec-systemd-test:$$"
name="kata-exec-systemd-test-$$"
cleanup() {
  local rc=$?
  set +e
  if [[ $rc -ne 0 ]] && podman container exists "$name" 2>/dev/null; then
    echo "---- journal of kata-exec (last 30 lines)" >&2
    podman exec "$name" journalctl -u kata-exec --no-pager -n 30 >&2 2>&1
  fi
  podman rm -f "$name" >/dev/null 2>&1
  podman rmi -f "$tag" >/dev/null 2>&1
  # The container's containerd is gone with it; what it mounted under $tmp goes here.
  awk -v d="$tmp" 'index($5, d "/") == 1 { print length($5), $5 }' /proc/self/mountinfo | sort -rn | cut -d' ' -f2- |
    while read -r m; do umount --lazy "$m" 2>/dev/null; done
  rm -rf "$tmp"
  [[ $rc -eq 0 ]] || echo "test-systemd-unit: FAIL (exit $rc) after $((SECONDS - t_start)) s" >&2
}
trap cleanup EXIT

# The service as the unit runs it: /opt/kata-exec with dist/ (built from src/ now) and the
# dependencies.
mkdir -p "$tmp/app" "$tmp/containerd"
node_modules/.bin/tsc -p tsconfig.build.json --outDir "$tmp/app/dist"
cp package.json "$tmp/app/"
sed -e 's/^KATA_EXEC_RUNTIME=.*/KATA_EXEC_RUNTIME=runc/' -e 's/^KATA_EXEC_LOG_LEVEL=.*/KATA_EXEC_LOG_LEVEL=warn/' \
  deploy/systemd/kata-exec.env.example >"$tmp/kata-exec.env"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
sed -i "s/^KATA_EXEC_PORT=.*/KATA_EXEC_PORT=$port/" "$tmp/kata-exec.env"

cat >"$tmp/Containerfile" <<EOF
FROM $base
RUN apt-get update && apt-get install -y --no-install-recommends systemd systemd-sysv containerd runc python3-minimal curl \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* \\
 && ln -sf /usr/local/bin/node /usr/bin/node \\
 && systemctl mask systemd-logind.service getty.target console-getty.service systemd-timesyncd.service \\
 && systemctl enable containerd.service
COPY kata-exec.service /etc/systemd/system/kata-exec.service
COPY kata-exec.env /etc/kata-exec/kata-exec.env
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
EOF
cp deploy/systemd/kata-exec.service "$tmp/"
podman build --network host --pull=never -t "$tag" "$tmp" >"$tmp/build.log" 2>&1 || { tail -n 30 "$tmp/build.log" >&2; die "building the systemd image failed"; }

nofile=$(ulimit -Hn); [[ "$nofile" == unlimited || "$nofile" -gt 16384 ]] && nofile=16384
podman run -d --name "$name" --systemd=always --privileged --network host --pull=never \
  --ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096 \
  -v "$tmp/containerd:/var/lib/containerd" \
  -v "$tmp/app/dist:/opt/kata-exec/dist:ro" -v "$tmp/app/package.json:/opt/kata-exec/package.json:ro" \
  -v "$PWD/node_modules:/opt/kata-exec/node_modules:ro" \
  -v "$archive:/sandbox.oci.tar:ro" \
  "$tag" >/dev/null 2>"$tmp/run.err" || { cat "$tmp/run.err" >&2; die "podman run failed"; }
cx() { podman exec "$name" "$@"; }
for _ in $(seq 1 60); do cx ctr version >/dev/null 2>&1 && break; sleep 0.5; done
cx ctr version >/dev/null 2>&1 || die "containerd.service did not start under systemd"
cx ctr -n kata-exec images import --base-name toolruntime-sandbox /sandbox.oci.tar >/dev/null

url="http://127.0.0.1:$port"
start_and_wait() {
  cx systemctl restart kata-exec
  for _ in $(seq 1 120); do curl -fsS --max-time 2 "$url/readyz" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "kata-exec did not become ready"
}
execute() { curl -sS --max-time 60 -H 'content-type: application/json' -d '{"language":"python","code":"print(6*7)"}' "$url/v1/execute"; }
main_pid() { cx systemctl show -p MainPID --value kata-exec; }

start_and_wait
pid=$(main_pid)
[[ "$(cx readlink /proc/1/ns/mnt)" == "$(cx readlink "/proc/$pid/ns/mnt")" ]] || die "the unit runs in a mount namespace of its own"
status=$(cx cat "/proc/$pid/status")
grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$status" || die "NoNewPrivileges is not in force"
grep -q '^Seccomp:[[:space:]]*2' <<<"$status" || die "the system-call filter is not in force"
capbnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' <<<"$status")
# CAP_CHOWN(0) DAC_OVERRIDE(1) FOWNER(3) KILL(5) SYS_ADMIN(21)
[[ "$capbnd" == 000000000020002b ]] || die "capability bounding set is $capbnd, expected 000000000020002b"
log "unit started: host mount namespace, NoNewPrivs 1, Seccomp 2, CapBnd $capbnd"
answer=$(execute)
node -e 'const r=JSON.parse(process.argv[1]); if (r.status!=="ok"||r.stdout!=="42\n") { console.error(process.argv[1]); process.exit(1) }' "$answer" \
  || die "the sample execution failed under the unit"
log "python print(6*7) -> \"42\\n\" through the unit, under its system-call filter"

# The counter-proof: ProtectSystem=strict and PrivateTmp=yes, with every path ctr writes
# to left writable, still break it: the mounts stay in the unit's own namespace.
cx mkdir -p /etc/systemd/system/kata-exec.service.d
cx sh -c 'printf "[Service]\nProtectSystem=strict\nPrivateTmp=yes\nReadWritePaths=/run/kata-exec /var/lib/kata-exec /run/containerd /var/lib/containerd\n" >/etc/systemd/system/kata-exec.service.d/protect.conf'
cx systemctl daemon-reload
start_and_wait
pid=$(main_pid)
[[ "$(cx readlink /proc/1/ns/mnt)" != "$(cx readlink "/proc/$pid/ns/mnt")" ]] || die "ProtectSystem=strict did not give the unit a mount namespace (unexpected)"
answer=$(execute || true)
if node -e 'const r=JSON.parse(process.argv[1]); process.exit(r.status==="ok"&&r.stdout==="42\n"?0:1)' "$answer" 2>/dev/null; then
  die "with ProtectSystem=strict the execution still succeeded: the unit's comment would be wrong"
fi
cause=$(cx journalctl -u kata-exec --no-pager -n 200 -o cat | node -e '
  let last = "";
  for (const l of require("fs").readFileSync(0, "utf8").split("\n")) {
    try { const j = JSON.parse(l); if (j.level >= 50) last = JSON.stringify(j.cause ?? j.err?.message ?? j.msg).slice(0, 300); } catch {}
  }
  console.log(last);' || true)
log "with ProtectSystem=strict: own mount namespace, the execution fails ($(node -p 'const r=JSON.parse(process.argv[1]); r.code ?? r.status' "$answer" 2>/dev/null || echo no answer); ${cause:-no ctr error logged}) as documented"
cx rm -rf /etc/systemd/system/kata-exec.service.d
cx systemctl daemon-reload
start_and_wait
answer=$(execute)
node -e 'const r=JSON.parse(process.argv[1]); process.exit(r.status==="ok"?0:1)' "$answer" || die "the execution failed after removing the drop-in"

# Graceful stop: exit 0.
cx systemctl stop kata-exec
result=$(cx systemctl show -p Result --value kata-exec)
code=$(cx systemctl show -p ExecMainStatus --value kata-exec)
[[ "$result" == success && "$code" == 0 ]] || die "systemctl stop: result $result, exit status $code"
log "systemctl stop -> drained, exit 0"
log "PASS: deploy/systemd/kata-exec.service under systemd ($((SECONDS - t_start)) s)"
