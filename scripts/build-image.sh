#!/usr/bin/env bash
# Builds a sandbox image from Debian packages only, without any container registry, and
# writes it as an OCI archive that `ctr image import` takes. Two variants:
#   default  python (with numpy), javascript (node), bash   -> toolruntime-sandbox:latest
#   full     default + c, cpp, go, rust, java, typescript,  -> toolruntime-sandbox-full:latest
#            ruby, php, perl
#
#   scripts/build-image.sh [default|full] [OUT_TAR]
#
# Environment:
#   KATA_EXEC_IMAGE_VARIANT default|full (default: default; the first argument wins)
#   KATA_EXEC_DEB_MIRROR   Debian mirror for debootstrap (default: the first URI of this
#                          host's own apt sources, so it works wherever apt works)
#   KATA_EXEC_DEB_SUITE    Debian suite              (bookworm)
# OUT_TAR defaults to $KATA_EXEC_STATE_DIR/images/sandbox.oci.tar (default) or
# sandbox-full.oci.tar (full). The archive is rebuilt only when this script or the
# launcher's source changed since the last build of that variant (each has its own stamp).
#
# Adding a language: its entry in src/execution/languages.ts, and its line below (name,
# Debian packages, the command that prints its version inside the image).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
variant=${KATA_EXEC_IMAGE_VARIANT:-default}
if [[ "${1:-}" == default || "${1:-}" == full ]]; then variant=$1; shift; fi
suite=${KATA_EXEC_DEB_SUITE:-bookworm}
images=${KATA_EXEC_STATE_DIR:-/var/lib/kata-exec}/images

# One line per language: name | Debian packages | its version, printed inside the image.
default_langs=(
  'python|python3 python3-numpy|python3 -c "import platform; print(platform.python_version())"'
  'javascript|nodejs|node -e "process.stdout.write(process.versions.node)"'
  'bash|bash|bash -c "echo \${BASH_VERSINFO[0]}.\${BASH_VERSINFO[1]}.\${BASH_VERSINFO[2]}"'
)
full_langs=(
  'c|gcc libc6-dev|gcc -dumpfullversion'
  'cpp|g++|g++ -dumpfullversion'
  'go|golang-go|go env GOVERSION | sed s/^go//'
  'rust|rustc|rustc --version | cut -d" " -f2'
  'java|default-jdk-headless|javac -version 2>&1 | cut -d" " -f2'
  'typescript|node-typescript|tsc --version | cut -d" " -f2'
  'ruby|ruby|ruby -e "print RUBY_VERSION"'
  'php|php-cli|php -r "echo PHP_VERSION;"'
  'perl|perl|perl -e "print substr(\$^V, 1)"'
)
case "$variant" in
  default) image=toolruntime-sandbox:latest; langs=("${default_langs[@]}"); out=${1:-$images/sandbox.oci.tar} ;;
  full) image=toolruntime-sandbox-full:latest; langs=("${default_langs[@]}" "${full_langs[@]}"); out=${1:-$images/sandbox-full.oci.tar} ;;
  *) kx_die "unknown variant $variant: default or full" ;;
esac
stamp="$out.sha256"
# One build at a time: a second caller waits, then finds the archive up to date.
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9
launcher_src="$here/../launcher/kx-launch.c"
# kx-session.c (the session mode) is part of the launcher: kx-launch.c includes it.
want=$( { sha256sum "$0" "$launcher_src" "$here/../launcher/kx-session.c" | cut -d' ' -f1; echo "$image $variant $suite"; } | sha256sum | cut -d' ' -f1)

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

packages=(coreutils procps)
for l in "${langs[@]}"; do IFS='|' read -r _ pkgs _ <<<"$l"; packages+=($pkgs); done
t0=$SECONDS
echo "build-image: $variant: debootstrap $suite from the host's Debian mirror (${packages[*]})"
debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

# Trim what a sandbox never needs: package caches, docs, locales.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} + 2>/dev/null || true
# Go's standard library sources stay (go build compiles them); their tests and test data
# never serve a program's build.
for goroot in "$rootfs"/usr/share/go-*/src; do
  [[ -d "$goroot" ]] || continue
  find "$goroot" -type d -name testdata -prune -exec rm -rf {} +
  find "$goroot" -type f -name '*_test.go' -delete
done
rm -rf "$rootfs"/usr/share/go-*/test "$rootfs"/usr/share/go-*/doc "$rootfs"/usr/share/go-*/api
# The JDK's jmods only serve jlink.
rm -rf "$rootfs"/usr/lib/jvm/*/jmods
# TypeScript: the program may use node's globals and modules (require, process, fs ...).
# Debian has no @types/node: a declaration that types them loosely (any) lets the usual
# judge programs compile; tsc is given it beside main.ts (src/execution/languages.ts).
if [[ "$variant" == full ]]; then
  install -d "$rootfs/usr/local/lib/kata-exec"
  cat >"$rootfs/usr/local/lib/kata-exec/node-globals.d.ts" <<'TS'
declare var require: any;
declare var module: any;
declare var exports: any;
declare var process: any;
declare var Buffer: any;
declare var __dirname: string;
declare var __filename: string;
declare module 'fs';
declare module 'readline';
declare module 'os';
declare module 'path';
declare module 'util';
declare module 'events';
declare module 'crypto';
declare module 'child_process';
declare module 'assert';
declare module 'buffer';
declare module 'stream';
declare module 'string_decoder';
declare module 'node:fs';
declare module 'node:readline';
declare module 'node:os';
declare module 'node:path';
declare module 'node:util';
declare module 'node:process';
TS
fi
# Mount points of every sandbox: /code (the program's writable working directory) and /tmp.
# runc gives a tmpfs the mode of the directory it covers: both are world-writable (sticky).
mkdir -p "$rootfs/code" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp" "$rootfs/code"
install -D -m 0755 "$work/kx-launch" "$rootfs/usr/local/lib/kata-exec/kx-launch"

# Record the language versions inside the image, read from the binaries themselves (java
# reads /proc: mounted for the measurement only).
# (`|| true`: under set -e a failing command in the trap would end it before the rm.)
mount -t proc proc "$rootfs/proc"
trap 'umount "$rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
json='' labels=()
for l in "${langs[@]}"; do
  IFS='|' read -r name _ cmd <<<"$l"
  v=$(chroot "$rootfs" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp GOCACHE=/tmp/go-cache /bin/sh -c "$cmd" | tr -d '\n')
  [[ "$v" =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || kx_die "$name: no version read (got \"$v\" from: $cmd)"
  json+="${json:+,}\"$name\":\"$v\""
  labels+=(--config.label "org.kata-exec.$name=$v")
done
numpy=$(chroot "$rootfs" python3 -c 'import numpy; print(numpy.__version__)')
labels+=(--config.label "org.kata-exec.python.numpy=$numpy")
umount "$rootfs/proc"
trap 'rm -rf "$work"' EXIT
echo "build-image: $variant: {$json}, numpy $numpy"
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
echo "{$json}" >"$rootfs/etc/kata-exec/languages.json"

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
  --config.label "org.kata-exec.variant=$variant" \
  "${labels[@]}"
umoci gc --layout "$oci"

mkdir -p "$(dirname "$out")"
tar -C "$oci" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$want" >"$stamp"
echo "build-image: wrote $out ($(du -h "$out" | cut -f1), unpacked $(du -sh "$work/bundle/rootfs" | cut -f1)) for $image in $((SECONDS - t0)) s"
