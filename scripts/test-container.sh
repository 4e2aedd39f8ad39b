#!/usr/bin/env bash
# The container image, built and run for real, without any registry (as root):
#   1. a Node.js base image made locally (scripts/build-node-base.sh; cached while the
#      host's node, npm and that script are unchanged);
#   2. the Dockerfile built with podman, the base passed as --build-arg NODE_IMAGE;
#   3. a private containerd (scripts/containerd.sh) under a temporary directory, with the
#      sandbox image imported;
#   4. the built container run against it, the way deploy/ runs it: the run directory
#      mounted at the identical path with rshared propagation, containerd's overlayfs
#      snapshot directory and ctr's FIFO directory at their identical paths, a read-only
#      root, and only the capabilities it needs;
#   5. /readyz, a sample execution (python: print(6*7) -> "42\n"), a dev-profile execution
#      (an overlay mounted by mount(8) inside the container), the image's HEALTHCHECK, and
#      a graceful stop (exit 0, every mount released on the host too);
#   6. everything it made removed: container, built image, containerd, mounts, temp dirs.
#
#   scripts/test-container.sh
#
# Environment:
#   KATA_EXEC_TEST_RUNTIMES  runtimes to run the container with, comma-separated: runc,
#                            gvisor (default: runc, plus gvisor when runsc is installed)
#   KATA_EXEC_NODE_IMAGE     the base image (default localhost/kata-exec-node:20, built here)
#   KATA_EXEC_STATE_DIR      where the sandbox archive is (/var/lib/kata-exec/images/sandbox.oci.tar;
#                            built with scripts/build-image.sh when missing)
#   KATA_EXEC_TEST_PRIVILEGED=1  run with --privileged instead of the exact capabilities
set -euo pipefail
cd "$(dirname "$0")/.."

t_start=$SECONDS
log() { echo "test-container: $*"; }
die() { echo "test-container: FAIL: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root (podman, containerd and mounts need it)"

# ---- packages
pkgs=(podman buildah containerd runc debootstrap umoci curl)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

base=${KATA_EXEC_NODE_IMAGE:-localhost/kata-exec-node:20}
state_dir=${KATA_EXEC_STATE_DIR:-/var/lib/kata-exec}
archive="$state_dir/images/sandbox.oci.tar"
if [[ -n "${KATA_EXEC_TEST_RUNTIMES:-}" ]]; then
  IFS=, read -r -a runtimes <<<"$KATA_EXEC_TEST_RUNTIMES"
elif command -v runsc >/dev/null; then
  runtimes=(runc gvisor)
else
  runtimes=(runc)
fi

# ---- leftovers of an earlier run that was killed (its pid is gone): remove them
label=org.kata-exec.test-container
alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }
unmount_under() {
  local dir=$1 m
  # Deepest first; lazy, so that a busy mount cannot stop the cleanup.
  while read -r m; do umount --lazy "$m" 2>/dev/null || true; done < <(
    awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print length($5), $5 }' /proc/self/mountinfo | sort -rn | cut -d' ' -f2-)
}
stop_containerd() {
  local run=$1 sock=$1/containerd/containerd.sock id pid
  if ctr --address "$sock" --connect-timeout 1s version >/dev/null 2>&1; then
    for id in $(ctr --address "$sock" -n kata-exec containers list -q 2>/dev/null); do
      ctr --address "$sock" -n kata-exec tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
      ctr --address "$sock" -n kata-exec tasks delete -f "$id" >/dev/null 2>&1 || true
      ctr --address "$sock" -n kata-exec containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  KATA_EXEC_KATA_KIT='' KATA_EXEC_STATE_DIR="${run%/run}/state" KATA_EXEC_RUN_DIR="$run" bash scripts/containerd.sh stop >/dev/null 2>&1 || true
  # Shims that containerd started for this socket (by pid, from their command line).
  for pid in $(grep -lsF -- "$sock" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q '^/usr/bin/containerd-shim' && kill -9 "$pid" 2>/dev/null || true
  done
}
for c in $(podman ps -a --filter "label=$label" --format '{{.ID}}' 2>/dev/null); do
  owner=$(podman inspect --format "{{ index .Config.Labels \"$label\" }}" "$c" 2>/dev/null || true)
  alive "$owner" || { log "removing the container of an earlier run ($owner)"; podman rm -f "$c" >/dev/null 2>&1 || true; }
done
for img in $(podman images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep '^localhost/kata-exec:test-' || true); do
  alive "${img##*test-}" || podman rmi -f "$img" >/dev/null 2>&1 || true
done
for d in /var/tmp/kx-ctest.*; do
  [[ -d "$d" ]] || continue
  alive "$(cat "$d/owner" 2>/dev/null)" && continue
  log "removing $d (an earlier run)"
  stop_containerd "$d/run"
  unmount_under "$d"
  rm -rf "$d"
done

# ---- this run's names, and the cleanup of everything it makes
tmp=$(mktemp -d /var/tmp/kx-ctest.XXXXXX)
echo $$ >"$tmp/owner"
state="$tmp/state"
run="$tmp/run"
sock="$run/containerd/containerd.sock"
snapshots="$state/containerd/io.containerd.snapshotter.v1.overlayfs"
tag="localhost/kata-exec:test-$$"
name="kata-exec-test-$$"
cleanup() {
  local rc=$?
  set +e
  if [[ $rc -ne 0 ]] && podman container exists "$name" 2>/dev/null; then
    echo "---- podman logs $name (last 40 lines)" >&2
    podman logs --tail 40 "$name" >&2 2>&1
  fi
  podman rm -f "$name" >/dev/null 2>&1
  podman rmi -f "$tag" >/dev/null 2>&1
  stop_containerd "$run"
  unmount_under "$tmp"
  rm -rf "$tmp"
  if [[ $rc -ne 0 ]]; then echo "test-container: FAIL (exit $rc) after $((SECONDS - t_start)) s" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. the sandbox image archive and the base image
if [[ ! -f "$archive" ]]; then
  log "$archive is missing: building it (scripts/build-image.sh)"
  KATA_EXEC_STATE_DIR="$state_dir" bash scripts/build-image.sh "$archive"
fi
t=$SECONDS
bash scripts/build-node-base.sh "$base"
log "base image $base: $((SECONDS - t)) s"

# ---- 2. the Dockerfile, built with podman
# --jobs 3: the deps, build and runtime stages are independent until the last COPY.
build_args=(--jobs 3 --network host --format docker --layers=false --pull=never --build-arg "NODE_IMAGE=$base" --label "$label=$$")
# Behind a TLS-inspecting proxy (NODE_EXTRA_CA_CERTS set for this host's npm), npm in the
# build needs the same CA: it goes in as a build secret, never into a layer.
if [[ -n "${NODE_EXTRA_CA_CERTS:-}" && -s "$NODE_EXTRA_CA_CERTS" ]]; then build_args+=(--secret "id=npm_ca,src=$NODE_EXTRA_CA_CERTS"); fi
t=$SECONDS
podman build "${build_args[@]}" -t "$tag" . >"$tmp/build.log" 2>&1 || { tail -n 40 "$tmp/build.log" >&2; die "podman build failed"; }
log "podman build: $((SECONDS - t)) s, $(podman image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
podman image inspect --format '{{.Config.Healthcheck}}' "$tag" | grep -q healthz || die "the image has no HEALTHCHECK (build with --format docker)"

# podman's default rlimits can exceed what this caller may set (no CAP_SYS_RESOURCE here).
nofile=$(ulimit -Hn); [[ "$nofile" == unlimited || "$nofile" -gt 16384 ]] && nofile=16384
ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
[[ "$(podman run --rm --pull=never --no-healthcheck "${ulimits[@]}" --entrypoint sh "$tag" -c 'command -v npm npx containerd containerd-stress || true')" == "" ]] \
  || die "the runtime image still holds npm or the containerd daemon"

# ---- 3. a private containerd, the run directory on a shared mount, the sandbox image
mkdir -p "$run" "$state" /run/containerd/fifo
# The service's mounts under the run directory must reach the host (rshared): the
# directory must be a shared mount on the host side too.
mount --bind "$run" "$run"
mount --make-rshared "$run"
# containerd in the host's mount namespace, never the Kata kit's own one (npm test exports
# KATA_EXEC_KATA_KIT for its Kata tier): a service inside a container sees no host pid to
# enter another namespace by, so its rootfs mounts must reach containerd by propagation.
KATA_EXEC_KATA_KIT='' KATA_EXEC_STATE_DIR="$state" KATA_EXEC_RUN_DIR="$run" bash scripts/containerd.sh start >/dev/null
ctr --address "$sock" -n kata-exec images import --base-name toolruntime-sandbox "$archive" >/dev/null
[[ -d "$snapshots" ]] || die "no overlayfs snapshotter directory at $snapshots"

# ---- 4.-5. run the container, once per runtime
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
if [[ "${KATA_EXEC_TEST_PRIVILEGED:-}" == 1 ]]; then
  privileges=(--privileged)
else
  # The exact set: mounts (SYS_ADMIN), removing what a sandbox left in its overlay
  # (DAC_OVERRIDE, FOWNER, CHOWN), signalling its own ctr clients (KILL). podman's default
  # seccomp profile allows mount(2) once SYS_ADMIN is granted; AppArmor (where enabled)
  # does not, hence apparmor=unconfined.
  privileges=(--cap-drop=all --cap-add=SYS_ADMIN,DAC_OVERRIDE,FOWNER,CHOWN,KILL --security-opt apparmor=unconfined)
fi

# An API key, as the Kubernetes Secret gives it: name:sha256(token); the token is the bearer.
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
api_keys="ci:$(printf %s "$token" | sha256sum | cut -d' ' -f1)"
post() { curl -sS --max-time 60 -H "authorization: Bearer $token" -H 'content-type: application/json' -d "$2" "http://127.0.0.1:$1/v1/execute"; }
expect() { # expect PORT BODY STDOUT: the execution answers status ok with exactly STDOUT
  local out
  out=$(post "$1" "$2") || die "POST /v1/execute failed: $out"
  EXPECT="$3" node -e '
    const r = JSON.parse(process.argv[1]);
    if (r.status !== "ok" || r.stdout !== process.env.EXPECT) {
      console.error("unexpected answer: " + JSON.stringify(r)); process.exit(1);
    }' "$out" || die "the execution $2 did not print $(printf %q "$3")"
  echo "$out"
}

for rt in "${runtimes[@]}"; do
  port=$(free_port)
  extra=()
  if [[ "$rt" == gvisor ]]; then
    # The runsc wrapper that the service writes is run by the host's shim: runsc must be
    # at the same path inside the container and on the host.
    runsc=$(readlink -f "$(command -v runsc)") || die "runsc is not installed (apt-get install runsc)"
    extra=(-v "$runsc:$runsc:ro" -e "KATA_EXEC_RUNSC_PATH=$runsc")
  fi
  t=$SECONDS
  podman run -d --name "$name" --pull=never --label "$label=$$" \
    "${privileges[@]}" --network host --read-only --tmpfs /tmp:rw,nosuid,nodev,size=16m \
    "${ulimits[@]}" --health-interval disable \
    -v "$run:$run:rshared" \
    -v "$snapshots:$snapshots" \
    -v /run/containerd/fifo:/run/containerd/fifo \
    "${extra[@]}" \
    -e KATA_EXEC_HOST=127.0.0.1 -e "KATA_EXEC_PORT=$port" -e "KATA_EXEC_RUN_DIR=$run" \
    -e "KATA_EXEC_CONTAINERD_ADDRESS=$sock" -e KATA_EXEC_NAMESPACE=kata-exec \
    -e "KATA_EXEC_RUNTIME=$rt" -e KATA_EXEC_LOG_LEVEL=warn -e "KATA_EXEC_API_KEYS=$api_keys" \
    "$tag" >/dev/null 2>"$tmp/run.err" || { cat "$tmp/run.err" >&2; die "podman run failed ($rt)"; }

  ready=""
  for _ in $(seq 1 240); do
    if curl -fsS --max-time 2 "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
    [[ "$(podman inspect --format '{{.State.Running}}' "$name")" == true ]] || die "the container exited ($rt)"
    sleep 0.5
  done
  [[ -n "$ready" ]] || { curl -sS "http://127.0.0.1:$port/readyz" >&2 || true; die "/readyz did not answer 200 within 120 s ($rt)"; }
  log "$rt: ready in $((SECONDS - t)) s"

  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d '{"language":"python","code":"1"}' "http://127.0.0.1:$port/v1/execute")
  [[ "$code" == 401 ]] || die "an execution without the API key got $code, expected 401 ($rt)"
  log "$rt: no API key -> 401"
  answer=$(expect "$port" '{"language":"python","code":"print(6*7)"}' $'42\n')
  log "$rt: python print(6*7) -> $(node -p 'const r=JSON.parse(process.argv[1]); JSON.stringify({status:r.status,stdout:r.stdout,backend:r.backend.kind,durationMs:r.durationMs})' "$answer")"
  if [[ "$rt" == runc ]]; then
    # dev runs as root in the sandbox: runc, with no user namespace, refuses it.
    dev=$(post "$port" '{"language":"bash","code":"echo hi","profile":"dev"}')
    [[ "$(node -p 'JSON.parse(process.argv[1]).code' "$dev")" == PROFILE_NOT_SUPPORTED ]] || die "runc accepted the dev profile: $dev"
    log "$rt: dev profile -> 422 PROFILE_NOT_SUPPORTED"
  else
    # The dev profile's writable root is an overlay that mount(8) makes inside the container.
    expect "$port" '{"language":"bash","code":"echo hi >/written && cat /written","profile":"dev"}' $'hi\n' >/dev/null
    log "$rt: dev profile (overlay root) -> ok"
  fi
  # The rootfs mount the service made inside the container is visible on the host.
  grep -q " $run/rootfs/" /proc/self/mountinfo || die "the service's rootfs mount did not propagate to the host (rshared)"
  podman healthcheck run "$name" >/dev/null 2>>"$tmp/podman.err" || die "the image's HEALTHCHECK failed"
  log "$rt: HEALTHCHECK -> healthy; rootfs mount propagated to the host"

  # Graceful stop: SIGTERM through tini, drain, exit 0, mounts released (on the host too).
  podman stop -t 60 "$name" >/dev/null 2>>"$tmp/podman.err"
  code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
  [[ "$code" == 0 ]] || die "the container exited $code on SIGTERM ($rt), expected 0"
  if grep -q " $run/rootfs/\| $run/work/" /proc/self/mountinfo; then die "mounts were left under $run after the stop ($rt)"; fi
  [[ -z "$(ctr --address "$sock" -n kata-exec containers list -q)" ]] || die "sandboxes were left in containerd after the stop ($rt)"
  podman rm "$name" >/dev/null 2>>"$tmp/podman.err"
  log "$rt: SIGTERM -> exit 0, no sandbox or mount left"
done

log "PASS: image built from the Dockerfile (base $base), sample execution through the container on ${runtimes[*]} ($((SECONDS - t_start)) s)"
