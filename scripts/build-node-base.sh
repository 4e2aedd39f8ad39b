#!/usr/bin/env bash
# Makes a Node.js base image locally, for hosts that cannot pull `node:20-bookworm-slim`
# from a registry: a Debian (bookworm, minbase) root built with debootstrap from the
# host's own Debian mirror, plus this host's `node` binary and npm, laid out like the
# official image (/usr/local/bin/node, /usr/local/lib/node_modules/npm). The Dockerfile
# takes it as its NODE_IMAGE build argument:
#
#   scripts/build-node-base.sh [IMAGE]          (default localhost/kata-exec-node:20)
#   podman build --build-arg NODE_IMAGE=localhost/kata-exec-node:20 -t kata-exec .
#
# The image is rebuilt only when this script, the node binary, npm or the suite changed
# (a key stored as the image label org.kata-exec.base-key). Needs root, debootstrap and
# podman (the image lands in the storage that podman and buildah share). Environment:
#   KATA_EXEC_DEB_MIRROR   Debian mirror (default: the first URI of this host's apt sources)
#   KATA_EXEC_DEB_SUITE    Debian suite (bookworm)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

image=${1:-localhost/kata-exec-node:20}
suite=${KATA_EXEC_DEB_SUITE:-bookworm}

die() { echo "build-node-base: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap needs it)"
for t in debootstrap podman tar sha256sum; do command -v "$t" >/dev/null || die "$t is missing (apt-get install -y debootstrap podman buildah)"; done

node_bin=$(readlink -f "$(command -v node)") || die "node is missing"
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")") || die "npm is missing"
[[ -f "$npm_dir/package.json" ]] || die "cannot find npm's package directory (found $npm_dir)"
node_version=$("$node_bin" -p process.versions.node)
npm_version=$("$node_bin" -p "require('$npm_dir/package.json').version")
"$node_bin" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a===20&&b>=18||a===22||a===24?0:1)' \
  || die "the host's node is $node_version: an LTS line (20.18+, 22, 24) is needed"

key=$( { sha256sum "$0" | cut -d' ' -f1; echo "$suite $node_version $npm_version"; sha256sum "$node_bin" | cut -d' ' -f1; } | sha256sum | cut -c1-32)
have=$(podman image inspect --format '{{ index .Labels "org.kata-exec.base-key" }}' "$image" 2>/dev/null || true)
if [[ "$have" == "$key" ]]; then
  echo "build-node-base: $image (node $node_version) is up to date"
  exit 0
fi

mirror=$(kx_debian_mirror)
security=$(grep -hoE '^URIs:[[:space:]]*\S+security\S*' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -n1 || true)

work=$(mktemp -d /var/tmp/kata-exec-node-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "build-node-base: debootstrap $suite (minbase) from the host's Debian mirror"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

# apt sources as in the official Debian images: the suite, its updates and security.
rm -f "$root/etc/apt/sources.list"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" "$suite" "$suite"
  if [[ -n "$security" ]]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security" "$suite"
  fi
} >"$root/etc/apt/sources.list.d/debian.sources"
# Like the official images: no recommends, no package cache kept.
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/99no-recommends"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log "$root"/var/log/apt/*
find "$root"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} + 2>/dev/null || true

# Node and npm where the official node image has them.
install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin /usr/local/bin/node -e 'process.exit(0)' || die "the copied node does not run in the $suite root (missing libraries?)"
chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root npm --version >/dev/null || die "the copied npm does not run in the $suite root"

echo "build-node-base: importing as $image (node $node_version, npm $npm_version)"
changes=(
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change "ENV NODE_VERSION=$node_version"
  --change 'CMD ["node"]'
  --change "LABEL org.kata-exec.base-key=$key"
  --change "LABEL org.opencontainers.image.description=\"Debian $suite minbase with Node.js $node_version, made by kata-exec scripts/build-node-base.sh\""
)
old=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
tar -C "$root" --numeric-owner -cf - . | podman import --quiet "${changes[@]}" - "$image" >/dev/null
# The previous version, now untagged, is not kept (unless a container still uses it).
[[ -z "$old" ]] || podman rmi "$old" >/dev/null 2>&1 || true
echo "build-node-base: $image ready"
