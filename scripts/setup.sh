#!/usr/bin/env bash
# Takes a Debian 12 host (as root) to everything kata-exec needs, idempotently:
# Debian packages, npm dependencies, the build, the sandbox image, a containerd that
# answers (the system one, else a private one) and the image imported into it.
#
#   scripts/setup.sh           everything
#   scripts/setup.sh deps      packages, npm, build and image only (what the tests need:
#                              they start a containerd of their own)
# KATA_EXEC_SKIP_APT=1 skips apt-get (the packages are already there).
set -euo pipefail
cd "$(dirname "$0")/.."

state=${KATA_EXEC_STATE_DIR:-/var/lib/kata-exec}
run=${KATA_EXEC_RUN_DIR:-/run/kata-exec}
ns=${KATA_EXEC_NAMESPACE:-kata-exec}
image=${KATA_EXEC_IMAGE:-toolruntime-sandbox:latest}
archive="$state/images/sandbox.oci.tar"

[[ $(id -u) -eq 0 ]] || { echo "setup: run as root (containerd and mounts need it)" >&2; exit 1; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=18)?0:1)' 2>/dev/null || {
  echo "setup: Node.js 20.18 or newer is required (node --version: $(node --version 2>/dev/null || echo missing))" >&2; exit 1; }

pkgs=(containerd runc runsc umoci debootstrap curl ca-certificates python3 chromium)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 && -z "${KATA_EXEC_SKIP_APT:-}" ]]; then
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build

KATA_EXEC_STATE_DIR="$state" bash scripts/build-image.sh "$archive"
if [[ "${1:-}" == deps ]]; then echo "setup: dependencies ready"; exit 0; fi

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
