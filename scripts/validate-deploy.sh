#!/usr/bin/env bash
# Offline checks of deploy/ (no cluster, no systemd running, no registry):
#   Kubernetes  each kustomization (the base and every overlay) rendered with
#               `kubectl kustomize`, then every document validated against the Kubernetes
#               API schemas (kubernetes-models) and prometheus-operator's ServiceMonitor
#               schema, field names checked strictly (TypeScript), kata-exec's invariants
#               checked (scripts/validate-deploy/validate.mjs), and the environment each
#               render gives the service parsed by the service's own loadConfig.
#   systemd     `systemd-analyze verify` with no warning at all, no option that would
#               give the unit its own mount namespace, the exposure score, and the
#               environment file example parsed by loadConfig.
#   self-test   broken manifests must fail the validator, so that a PASS means something.
# Exit non-zero on any problem; the last line says PASS.
#
#   scripts/validate-deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$SECONDS
log() { echo "validate-deploy: $*"; }
die() { echo "validate-deploy: FAIL: $*" >&2; exit 1; }

# ---- tools
if ! command -v systemd-analyze >/dev/null; then
  [[ $(id -u) -eq 0 ]] || die "systemd-analyze is missing: apt-get install systemd"
  log "apt-get install systemd (for systemd-analyze)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
command -v kubectl >/dev/null || die "kubectl is missing (kustomize renders the manifests): install kubectl 1.27 or newer"
kubectl kustomize --help >/dev/null 2>&1 || die "this kubectl has no kustomize"
v=scripts/validate-deploy
if [[ ! -d "$v/node_modules" || "$v/package-lock.json" -nt "$v/node_modules/.package-lock.json" ]]; then
  log "npm ci (scripts/validate-deploy: kubernetes-models, prometheus-operator models, yaml, typescript)"
  npm ci --prefix "$v" --no-audit --no-fund --loglevel=error >/dev/null
fi
[[ -x node_modules/.bin/tsx ]] || { log "npm ci (the service's dependencies, for its loadConfig)"; npm ci --no-audit --no-fund --loglevel=error >/dev/null; }

tmp=$(mktemp -d /tmp/kx-validate.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# ---- Kubernetes: render every kustomization
# A copy, so that an overlay's uncommitted inputs (api-keys.env) come from their .example.
cp -r deploy/kubernetes "$tmp/k8s"
while IFS= read -r ex; do [[ -e "${ex%.example}" ]] || cp "$ex" "${ex%.example}"; done < <(find "$tmp/k8s" -name '*.example')
inputs=()
while IFS= read -r k; do
  dir=$(dirname "$k")
  name=${dir#"$tmp/k8s/"}
  out="$tmp/render-${name//\//-}.yaml"
  kubectl kustomize "$dir" >"$out" 2>"$tmp/kustomize.err" || { cat "$tmp/kustomize.err" >&2; die "kubectl kustomize $name failed"; }
  inputs+=("$name=$out")
  log "rendered $name ($(grep -c '^kind:' "$out") objects)"
done < <(find "$tmp/k8s" -name kustomization.yaml | sort)
[[ ${#inputs[@]} -ge 2 ]] || die "expected the base and at least one overlay"

node "$v/validate.mjs" --env-out "$tmp/envs.json" "${inputs[@]}" || die "Kubernetes manifests are invalid (above)"

# Self-test: the validator must reject a misspelt field, a wrong type, a missing required
# field, and a broken kata-exec invariant.
base="$tmp/render-base.yaml"
sed 's/mountPropagation: Bidirectional/mountPropagaton: Bidirectional/' "$base" >"$tmp/bad-field.yaml"
sed 's/containerPort: 8080/containerPort: eighty/' "$base" >"$tmp/bad-type.yaml"
sed '/^  selector:$/,/^  template:$/{/^  selector:$/d;/^    matchLabels:$/d;/^      app.kubernetes.io/d}' "$base" >"$tmp/bad-required.yaml"
sed 's#path: /readyz#path: /healthz#' "$base" >"$tmp/bad-invariant.yaml"
for t in 'bad-field:mountPropagaton' 'bad-type:containerPort' 'bad-required:selector' 'bad-invariant:readinessProbe'; do
  bad=${t%%:*} want=${t#*:}
  if node "$v/validate.mjs" "$bad=$tmp/$bad.yaml" >"$tmp/$bad.out" 2>&1; then die "self-test: the validator accepted $bad"; fi
  grep -q "$want" "$tmp/$bad.out" || { cat "$tmp/$bad.out" >&2; die "self-test: $bad was rejected, but not for $want"; }
done
log "self-test: a misspelt field, a wrong type, a missing selector and a wrong probe are all rejected"

# ---- systemd
unit=deploy/systemd/kata-exec.service
envfile=deploy/systemd/kata-exec.env.example
# verify exits 0 on unknown keys and bad values (it only warns): any output is a failure.
out=$(systemd-analyze verify --man=no "$unit" 2>&1) || die "systemd-analyze verify $unit failed: $out"
[[ -z "$out" ]] || die "systemd-analyze verify $unit warns: $out"
log "systemd-analyze verify $unit: no warning"
# Options that create a mount namespace for the unit: its mounts would not reach containerd.
ns_opts='ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateMounts|PrivateIPC|ReadWritePaths|ReadOnlyPaths|InaccessiblePaths|ExecPaths|NoExecPaths|TemporaryFileSystem|BindPaths|BindReadOnlyPaths|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|ProtectProc|ProcSubset|RootDirectory|RootImage|MountImages|ExtensionImages|ExtensionDirectories|LogNamespace'
if grep -En "^[[:space:]]*($ns_opts)=" "$unit"; then die "$unit sets an option that gives the service its own mount namespace (see the comment at its top)"; fi
if grep -En '^[[:space:]]*MountFlags=' "$unit" | grep -vq '=shared'; then die "$unit: MountFlags other than shared gives the service its own mount namespace"; fi
grep -q '^KillMode=mixed' "$unit" || die "$unit: KillMode=mixed is needed (SIGTERM to ctr would end the running sandboxes)"
rundir=$(sed -n 's/^KATA_EXEC_RUN_DIR=//p' "$envfile")
[[ "$rundir" == "/run/$(sed -n 's/^RuntimeDirectory=//p' "$unit")" ]] || die "$envfile's KATA_EXEC_RUN_DIR ($rundir) is not the unit's RuntimeDirectory"
score=$(systemd-analyze security --offline=true --no-pager "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: //p')
log "no mount namespace for the unit; systemd-analyze security --offline: exposure ${score:-unknown}"

# ---- every environment deploy/ gives the service, through the service's own parser
npx --no-install tsx "$v/check-config.ts" --json "$tmp/envs.json" "$envfile" 2>&1 | sed 's/^/validate-deploy: /' \
  || die "a setting in deploy/ would stop the service"

log "PASS: deploy/kubernetes (${#inputs[@]} kustomizations) and deploy/systemd validated offline ($((SECONDS - t_start)) s)"
