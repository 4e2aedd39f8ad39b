# Shared bash of the scripts: source it (`. "$(dirname "$0")/lib.sh"`), never run it.
# Every function prints its errors prefixed with the calling script's name.

kx_name=$(basename "${0:-kata-exec}" .sh)

kx_die() {
  echo "$kx_name: $*" >&2
  exit 1
}

# The Debian mirror: KATA_EXEC_DEB_MIRROR, else the first non-security URI of this host's
# apt sources (deb822 first, then sources.list).
kx_debian_mirror() {
  local mirror=${KATA_EXEC_DEB_MIRROR:-}
  if [[ -z "$mirror" ]]; then
    mirror=$(grep -hoE '^URIs:[[:space:]]*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
    [[ -n "$mirror" ]] || mirror=$(grep -hoE '^deb[[:space:]]+\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  fi
  [[ -n "$mirror" ]] || kx_die "no Debian mirror found in /etc/apt: set KATA_EXEC_DEB_MIRROR"
  echo "$mirror"
}

# Installs the Debian packages that are missing (none when KATA_EXEC_SKIP_APT=1).
kx_apt_install() {
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [[ ${#missing[@]} -gt 0 && -z "${KATA_EXEC_SKIP_APT:-}" ]] || return 0
  echo "$kx_name: apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Node.js 20.18 or newer (package.json's engines), or a message saying what is there.
kx_require_node() {
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=18)?0:1)' 2>/dev/null ||
    kx_die "Node.js 20.18 or newer is required (node --version: $(node --version 2>/dev/null || echo missing))"
}
