/**
 * Offline validation of rendered Kubernetes manifests (kubectl kustomize output):
 *
 *   node validate.mjs [--env-out FILE] NAME=RENDERED.yaml ...
 *
 * 1. Schema: every document against the Kubernetes API schema of its apiVersion/kind, as
 *    bundled by kubernetes-models (types, required fields, enums, formats); the
 *    ServiceMonitor against prometheus-operator's CRD schema (@kubernetes-models/
 *    prometheus-operator). A kind without a schema is an error, never skipped.
 * 2. Strict field names: the schemas above allow unknown fields (as the API server's
 *    default decoding would drop them, silently), so each document is also type-checked by
 *    TypeScript as an object literal of the model's interface: a misspelt or misplaced
 *    field (mountPropagaton, livenesProbe) is an excess-property error.
 * 3. kata-exec's own invariants: the DaemonSet on katacontainers.io/kata-runtime=true
 *    nodes, the run directory mounted at its host path with Bidirectional propagation and
 *    equal to KATA_EXEC_RUN_DIR, every hostPath at the identical path, probes on /healthz
 *    and /readyz, a grace period above the drain, and the selectors and port names of the
 *    Service, PodDisruptionBudget, NetworkPolicy and ServiceMonitor actually matching.
 *
 * --env-out writes the environment each render gives the service (ConfigMap + Secret +
 * literal env) as JSON, for check-config.ts to parse with the service's own loadConfig.
 * Exit 1 with every problem listed; 0 when everything holds.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));

/** apiVersion -> the module that holds its models (one file per kind). */
const MODELS = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'scheduling.k8s.io/v1': 'kubernetes-models/scheduling.k8s.io/v1',
  'rbac.authorization.k8s.io/v1': 'kubernetes-models/rbac.authorization.k8s.io/v1',
  'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

const problems = [];
const fail = (where, msg) => problems.push(`${where}: ${msg}`);

const args = process.argv.slice(2);
let envOut = null;
const inputs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--env-out') envOut = args[++i];
  else {
    const eq = args[i].indexOf('=');
    inputs.push(eq > 0 ? { name: args[i].slice(0, eq), file: args[i].slice(eq + 1) } : { name: args[i], file: args[i] });
  }
}
if (inputs.length === 0) {
  console.error('usage: node validate.mjs [--env-out FILE] NAME=RENDERED.yaml ...');
  process.exit(2);
}

/** Every document of every input, parsed. */
const all = [];
for (const input of inputs) {
  const docs = parseAllDocuments(readFileSync(input.file, 'utf8'));
  for (const d of docs) {
    if (d.errors.length) {
      fail(input.name, `YAML: ${d.errors.map((e) => e.message).join('; ')}`);
      continue;
    }
    const obj = d.toJS();
    if (obj === null || obj === undefined) continue;
    // kustomize wraps long base64 values; the API server's decoder skips the newlines.
    for (const field of obj.kind === 'Secret' ? ['data'] : obj.kind === 'ConfigMap' ? ['binaryData'] : []) {
      for (const [k, v] of Object.entries(obj[field] ?? {})) if (typeof v === 'string') obj[field][k] = v.replace(/[\r\n]/g, '');
    }
    const id = `${input.name}: ${obj?.kind ?? '?'}/${obj?.metadata?.name ?? '?'}`;
    all.push({ input: input.name, id, obj });
  }
  if (!all.some((d) => d.input === input.name)) fail(input.name, 'no documents');
}

// ---- 1. schemas
for (const d of all) {
  const { apiVersion, kind } = d.obj;
  const mod = MODELS[apiVersion];
  if (!mod || typeof kind !== 'string' || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) {
    fail(d.id, `no schema for apiVersion ${apiVersion} kind ${kind} (add it to MODELS in scripts/validate-deploy/validate.mjs)`);
    continue;
  }
  let Model;
  try {
    Model = (await import(`${mod}/${kind}`))[kind];
  } catch {
    Model = undefined;
  }
  if (!Model) {
    fail(d.id, `no schema for ${kind} in ${apiVersion}`);
    continue;
  }
  d.model = { mod, kind };
  try {
    new Model(structuredClone(d.obj)).validate();
  } catch (err) {
    fail(d.id, `schema: ${err instanceof Error ? err.message : String(err)}`);
  }
}

// ---- 2. strict field names, through TypeScript's excess-property checks
{
  const typed = all.filter((d) => d.model);
  const lines = [];
  const spans = [];
  typed.forEach((d, i) => {
    lines.push(`import type { I${d.model.kind} as T${i} } from ${JSON.stringify(`${d.model.mod}/${d.model.kind}`)};`);
  });
  typed.forEach((d, i) => {
    const text = `export const doc${i}: T${i} = ${JSON.stringify(d.obj, null, 2)};`.split('\n');
    spans.push({ from: lines.length, to: lines.length + text.length, id: d.id });
    lines.push(...text);
  });
  const dir = mkdtempSync(path.join(here, '.check-'));
  const file = path.join(dir, 'manifests.ts');
  writeFileSync(file, lines.join('\n') + '\n');
  try {
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      skipLibCheck: true,
      types: [],
    });
    for (const diag of ts.getPreEmitDiagnostics(program)) {
      const msg = ts.flattenDiagnosticMessageText(diag.messageText, ' ');
      if (diag.file && diag.start !== undefined && path.resolve(diag.file.fileName) === path.resolve(file)) {
        const { line } = diag.file.getLineAndCharacterOfPosition(diag.start);
        const span = spans.find((s) => line >= s.from && line < s.to);
        const text = lines[line]?.trim() ?? '';
        fail(span ? span.id : 'manifests', `field check: ${msg} (at ${text.slice(0, 80)})`);
      } else {
        fail('field check', msg);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- 3. kata-exec's invariants, per render
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const envs = {};
for (const input of inputs) {
  const docs = all.filter((d) => d.input === input.name).map((d) => d.obj);
  const where = (what) => `${input.name}: ${what}`;
  const of = (kind) => docs.filter((o) => o.kind === kind);
  const dss = of('DaemonSet');
  if (dss.length !== 1) {
    fail(where('DaemonSet'), `expected exactly one, found ${dss.length}`);
    continue;
  }
  const ds = dss[0];
  const at = where(`DaemonSet/${ds.metadata?.name}`);
  const pod = ds.spec?.template?.spec ?? {};
  const podLabels = ds.spec?.template?.metadata?.labels ?? {};
  if (pod.nodeSelector?.['katacontainers.io/kata-runtime'] !== 'true') fail(at, 'nodeSelector must have katacontainers.io/kata-runtime: "true" (the label kata-deploy sets)');
  if (!matches(ds.spec?.selector?.matchLabels, podLabels)) fail(at, 'spec.selector does not match the pod template labels');
  const main = (pod.containers ?? []).find((c) => c.name === 'kata-exec');
  if (!main) {
    fail(at, 'no container named kata-exec');
    continue;
  }

  // The environment the service gets: ConfigMaps and Secrets by envFrom, then literal env.
  const env = {};
  for (const ref of main.envFrom ?? []) {
    const kind = ref.configMapRef ? 'ConfigMap' : ref.secretRef ? 'Secret' : null;
    const name = (ref.configMapRef ?? ref.secretRef)?.name;
    const src = of(kind).find((o) => o.metadata?.name === name);
    if (!src) {
      fail(at, `envFrom ${kind} ${name} is not in the render`);
      continue;
    }
    Object.assign(env, src.data ?? {});
    if (kind === 'Secret') {
      for (const [k, v] of Object.entries(src.data ?? {})) env[k] = Buffer.from(String(v), 'base64').toString('utf8');
      Object.assign(env, src.stringData ?? {});
    }
  }
  for (const e of main.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  const serviceEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('KATA_EXEC_')));
  envs[input.name] = serviceEnv;

  const runDir = serviceEnv.KATA_EXEC_RUN_DIR ?? '/run/kata-exec';
  const volumes = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
  const mounts = main.volumeMounts ?? [];
  const runMount = mounts.find((m) => m.mountPath === runDir);
  if (!runMount) fail(at, `KATA_EXEC_RUN_DIR ${runDir} is not mounted in the kata-exec container`);
  else {
    if (volumes[runMount.name]?.hostPath?.path !== runDir) fail(at, `the run directory must be the host's ${runDir} (hostPath at the identical path)`);
    if (runMount.mountPropagation !== 'Bidirectional') fail(at, 'the run directory needs mountPropagation: Bidirectional (the service mounts rootfs there for containerd)');
  }
  if (main.securityContext?.privileged !== true) fail(at, 'the kata-exec container must be privileged (Bidirectional propagation and mounts)');
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    for (const m of c.volumeMounts ?? []) {
      const hp = volumes[m.name]?.hostPath?.path;
      if (!volumes[m.name]) fail(at, `container ${c.name} mounts volume ${m.name}, which is not declared`);
      else if (hp && hp !== m.mountPath && !m.mountPath.startsWith('/host/')) {
        fail(at, `container ${c.name}: hostPath ${hp} is mounted at ${m.mountPath}; containerd on the host needs the identical path (or mount it under /host/ when only the service reads it)`);
      }
    }
  }
  const addr = serviceEnv.KATA_EXEC_CONTAINERD_ADDRESS;
  if (!addr || addr === 'auto') fail(at, 'set KATA_EXEC_CONTAINERD_ADDRESS to the node socket (/run/containerd/containerd.sock)');
  else if (!mounts.some((m) => addr.startsWith(m.mountPath + '/') && volumes[m.name]?.hostPath)) fail(at, `no hostPath mount holds the containerd socket ${addr}`);
  if (!mounts.some((m) => m.mountPath === '/run/containerd' || m.mountPath === '/run/containerd/fifo')) fail(at, "ctr's FIFO directory /run/containerd/fifo must be mounted from the host");

  const ports = new Map((main.ports ?? []).map((p) => [p.name, p.containerPort]));
  const probe = (name, want) => {
    const p = main[name];
    if (p?.httpGet?.path !== want) fail(at, `${name} must be an httpGet on ${want}`);
    else if (typeof p.httpGet.port === 'string' && !ports.has(p.httpGet.port)) fail(at, `${name} uses port ${p.httpGet.port}, which the container does not name`);
  };
  probe('livenessProbe', '/healthz');
  probe('readinessProbe', '/readyz');
  const port = Number(serviceEnv.KATA_EXEC_PORT ?? 8080);
  if (![...ports.values()].includes(port)) fail(at, `KATA_EXEC_PORT ${port} is not a containerPort`);

  const graceMs = Number(serviceEnv.KATA_EXEC_SHUTDOWN_GRACE_MS ?? 30000);
  const preStop = main.lifecycle?.preStop?.exec?.command;
  const pauseMs = preStop?.[0] === 'sleep' ? Number(preStop[1]) * 1000 : 0;
  const termMs = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
  if (termMs < graceMs + pauseMs + 10000) fail(at, `terminationGracePeriodSeconds (${termMs / 1000}) must exceed KATA_EXEC_SHUTDOWN_GRACE_MS + preStop + 10 s (${(graceMs + pauseMs + 10000) / 1000})`);

  for (const svc of of('Service')) {
    if (!matches(svc.spec?.selector, podLabels)) fail(where(`Service/${svc.metadata?.name}`), 'selector does not match the DaemonSet pods');
    for (const p of svc.spec?.ports ?? []) {
      if (typeof p.targetPort === 'string' && !ports.has(p.targetPort)) fail(where(`Service/${svc.metadata?.name}`), `targetPort ${p.targetPort} is not a port of the container`);
    }
  }
  for (const pdb of of('PodDisruptionBudget')) {
    if (!matches(pdb.spec?.selector?.matchLabels, podLabels)) fail(where(`PodDisruptionBudget/${pdb.metadata?.name}`), 'selector does not match the DaemonSet pods');
    if (pdb.spec?.maxUnavailable !== undefined || typeof pdb.spec?.minAvailable === 'string') {
      fail(where(`PodDisruptionBudget/${pdb.metadata?.name}`), 'a DaemonSet has no scale subresource: use an integer minAvailable');
    }
  }
  for (const np of of('NetworkPolicy')) {
    if (!matches(np.spec?.podSelector?.matchLabels, podLabels)) fail(where(`NetworkPolicy/${np.metadata?.name}`), 'podSelector does not match the DaemonSet pods');
  }
  const services = of('Service');
  for (const sm of of('ServiceMonitor')) {
    const target = services.find((s) => matches(sm.spec?.selector?.matchLabels, s.metadata?.labels));
    if (!target) fail(where(`ServiceMonitor/${sm.metadata?.name}`), 'selector matches no Service of the render');
    for (const e of sm.spec?.endpoints ?? []) {
      if (target && e.port && !(target.spec?.ports ?? []).some((p) => p.name === e.port)) fail(where(`ServiceMonitor/${sm.metadata?.name}`), `endpoint port ${e.port} is not a port of Service ${target.metadata?.name}`);
      if (e.path && e.path !== '/metrics') fail(where(`ServiceMonitor/${sm.metadata?.name}`), 'the metrics are at /metrics');
    }
  }
  for (const kind of ['Service', 'PodDisruptionBudget', 'NetworkPolicy', 'ServiceMonitor', 'Secret', 'ConfigMap']) {
    if (of(kind).length === 0) fail(where(kind), 'missing from the render');
  }
}

if (envOut) writeFileSync(envOut, JSON.stringify(envs, null, 2));
const counts = inputs.map((i) => `${i.name} ${all.filter((d) => d.input === i.name).length} documents`).join(', ');
if (problems.length) {
  console.error(`validate: ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`);
  process.exit(1);
}
console.log(`validate: ${counts}: schemas, field names and kata-exec invariants hold`);
