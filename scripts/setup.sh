#!/usr/bin/env bash
# Takes a Debian 12 host (as root) to everything kata-exec needs, idempotently:
# Debian packages, npm dependencies, the build, the sandbox image, a containerd that
# answers (the system one, else a private one) and the image imported into it.
#
#   scripts/setup.sh           everything
#   scripts/setup.sh deps      packages, npm, build and image only (they start a
#                              containerd of their own)
#   scripts/setup.sh test      deps, plus what only the tests use (chromium, for the
#                              Swagger UI test): never installed on a production host;
#                              builds the full sandbox image, which the tests run
# KATA_EXEC_SKIP_APT=1 skips apt-get (the packages are already there).
# KATA_EXEC_IMAGE_VARIANT=default|full picks the sandbox image (scripts/build-image.sh):
# default (python, javascript, bash) unless `test`, which builds full (all the languages).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
mode=${1:-all}
[[ "$mode" == all || "$mode" == deps || "$mode" == test ]] || kx_die "unknown mode $mode: all (no argument), deps or test"

state=${KATA_EXEC_STATE_DIR:-/var/lib/kata-exec}
run=${KATA_EXEC_RUN_DIR:-/run/kata-exec}
ns=${KATA_EXEC_NAMESPACE:-kata-exec}
variant=${KATA_EXEC_IMAGE_VARIANT:-$([[ "$mode" == test ]] && echo full || echo default)}
case "$variant" in
  default) image=${KATA_EXEC_IMAGE:-toolruntime-sandbox:latest}; archive="$state/images/sandbox.oci.tar" ;;
  full) image=${KATA_EXEC_IMAGE:-toolruntime-sandbox-full:latest}; archive="$state/images/sandbox-full.oci.tar" ;;
  *) kx_die "unknown KATA_EXEC_IMAGE_VARIANT $variant: default or full" ;;
esac

[[ $(id -u) -eq 0 ]] || kx_die "run as root (containerd and mounts need it)"
kx_require_node

# gcc and libc6-dev build the sandbox's launcher (launcher/kx-launch.c) into the image; the
# tests also build an LD_PRELOAD library with them (test/hostile/wrapper.test.ts).
pkgs=(containerd runc runsc umoci debootstrap curl ca-certificates python3 util-linux gcc libc6-dev)
[[ "$mode" == test ]] && pkgs+=(chromium)
kx_apt_install "${pkgs[@]}"

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build

KATA_EXEC_STATE_DIR="$state" bash scripts/build-image.sh "$variant" "$archive"
if [[ "$mode" == test && "$variant" == full ]]; then
  # The tests run the full image; a service on the default one (languages it lacks) and the
  # container test use the default image too.
  KATA_EXEC_STATE_DIR="$state" bash scripts/build-image.sh default "$state/images/sandbox.oci.tar"
fi
if [[ "$mode" != all ]]; then echo "setup: dependencies ready"; exit 0; fi

addr=${KATA_EXEC_CONTAINERD_ADDRESS:-auto}
if [[ "$addr" == auto ]]; then
  if ctr --address /run/containerd/containerd.sock --connect-timeout 1s version >/dev/null 2>&1; then
    addr=/run/containerd/containerd.sock
    echo "setup: using the system containerd"
  else
    KATA_EXEC_STATE_DIR="$state" KATA_EXEC_RUN_DIR="$run" bash scripts/containerd.sh start
    addr="$run/containerd/containerd.sock"
  fi
fi

# Import when the image is missing or the archive is newer than the last import.
stamp="$state/images/.imported-$(echo "$addr $ns" | sha256sum | cut -c1-12)"
if ! ctr --address "$addr" -n "$ns" images list -q | grep -qx "$image" || [[ ! -f "$stamp" || "$archive" -nt "$stamp" ]]; then
  echo "setup: importing $image into containerd ($ns)"
  ctr --address "$addr" -n "$ns" images import --base-name "${image%:*}" "$archive" >/dev/null
  touch "$stamp"
fi
echo "setup: ready (containerd at $addr, image $image)"
