#!/usr/bin/env bash
# Builds the sandbox image (toolruntime-sandbox:latest by default) from Debian packages
# only, without any container registry, and writes it as an OCI archive that
# `ctr image import` takes.
#
#   scripts/build-image.sh [OUT_TAR]
#
# Environment:
#   KATA_EXEC_IMAGE        image name:tag            (toolruntime-sandbox:latest)
#   KATA_EXEC_DEB_MIRROR   Debian mirror for debootstrap (default: the first URI of this
#                          host's own apt sources, so it works wherever apt works)
#   KATA_EXEC_DEB_SUITE    Debian suite              (bookworm)
# The archive is rebuilt only when this script or the launcher's source changed since the
# last build.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
image=${KATA_EXEC_IMAGE:-toolruntime-sandbox:latest}
suite=${KATA_EXEC_DEB_SUITE:-bookworm}
out=${1:-${KATA_EXEC_STATE_DIR:-/var/lib/kata-exec}/images/sandbox.oci.tar}
stamp="$out.sha256"
# One build at a time: a second caller waits, then finds the archive up to date.
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9
launcher_src="$here/../launcher/kx-launch.c"
# kx-session.c (the session mode) is part of the launcher: kx-launch.c includes it.
want=$( { sha256sum "$0" "$launcher_src" "$here/../launcher/kx-session.c" | cut -d' ' -f1; echo "$image $suite"; } | sha256sum | cut -d' ' -f1)

if [[ -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "build-image: $out is up to date"
  exit 0
fi

for tool in debootstrap umoci tar gcc; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is missing (apt-get install debootstrap umoci gcc libc6-dev)" >&2; exit 1; }
done

mirror=$(kx_debian_mirror)

work=$(mktemp -d /var/tmp/kata-exec-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

# The sandbox's init (launcher/kx-launch.c): static, so it needs nothing of the image.
gcc -static -O2 -Wall -Wextra -Werror -o "$work/kx-launch" "$launcher_src"

echo "build-image: debootstrap $suite from the host's Debian mirror"
debootstrap --variant=minbase --include=python3,nodejs,bash,coreutils,procps \
  "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

# Trim what a sandbox never needs: package caches, docs, locales.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} + 2>/dev/null || true
# Mount points of every sandbox: /code (the program's writable working directory) and /tmp.
# runc gives a tmpfs the mode of the directory it covers: both are world-writable (sticky).
mkdir -p "$rootfs/code" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp" "$rootfs/code"
install -D -m 0755 "$work/kx-launch" "$rootfs/usr/local/lib/kata-exec/kx-launch"

# Record the language versions inside the image, read from the binaries themselves.
py=$(chroot "$rootfs" python3 -c 'import platform; print(platform.python_version())')
nd=$(chroot "$rootfs" node -e 'process.stdout.write(process.versions.node)')
bs=$(chroot "$rootfs" bash -c 'echo ${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}.${BASH_VERSINFO[2]}')
echo "build-image: python $py, node $nd, bash $bs"
# Python's stdout line-buffered (not -u: unbuffered writes to a pipe can be partial under
# gVisor and Python then drops the rest), so output before a timeout is not lost.
pylib=$(chroot "$rootfs" python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
# Debian's sitecustomize.py is an absolute link to /etc: replace the link itself (writing
# through it would follow it out of the rootfs, onto the build host's own file).
rm -f "$rootfs$pylib/sitecustomize.py"
cat >"$rootfs$pylib/sitecustomize.py" <<'PY'
import sys
for _s in (sys.stdout, sys.stderr):
    try:
        _s.reconfigure(line_buffering=True)
    except Exception:
        pass
PY
# debootstrap copied the build host's name and resolver: a sandbox gets neither.
rm -f "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"
echo sandbox >"$rootfs/etc/hostname"
: >"$rootfs/etc/resolv.conf"
# The service reads the versions from here (GET /v1/runtimes): measured, not typed by hand.
mkdir -p "$rootfs/etc/kata-exec"
printf '{"python":"%s","javascript":"%s","bash":"%s"}\n' "$py" "$nd" "$bs" >"$rootfs/etc/kata-exec/languages.json"

oci="$work/oci"
umoci init --layout "$oci"
umoci new --image "$oci:latest"
umoci unpack --rootless=false --image "$oci:latest" "$work/bundle" >/dev/null
rm -rf "$work/bundle/rootfs"
mv "$rootfs" "$work/bundle/rootfs"
umoci repack --image "$oci:latest" "$work/bundle"
umoci config --image "$oci:latest" \
  --config.env PATH=/usr/local/bin:/usr/bin:/bin \
  --config.env LANG=C.UTF-8 \
  --config.user 65534:65534 \
  --config.workingdir /code \
  --config.label "org.kata-exec.python=$py" \
  --config.label "org.kata-exec.javascript=$nd" \
  --config.label "org.kata-exec.bash=$bs"
umoci gc --layout "$oci"

mkdir -p "$(dirname "$out")"
tar -C "$oci" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$want" >"$stamp"
echo "build-image: wrote $out ($(du -h "$out" | cut -f1)) for $image"
