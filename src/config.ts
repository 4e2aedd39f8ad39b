/**
 * Every setting of the service, in one TypeBox schema keyed by its environment variable.
 * This is the only module that reads process.env. `loadConfig` parses once, at start,
 * and throws a ConfigError naming each variable at fault and what to set.
 * The README's configuration table is generated from this schema (npm run config-table)
 * and a test keeps the two in step.
 */
import os from 'node:os';
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { RUNTIME_KINDS, type RuntimeKind } from './schemas/common.js';
import { MIN_MEMORY_MB } from './units.js';
import { ConfigError } from './errors.js';

const Int = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description });
const Num = (def: number, min: number, max: number, description: string) =>
  Type.Number({ default: def, minimum: min, maximum: max, description });
const Str = (def: string, description: string) => Type.String({ default: def, description });
const Choice = <T extends string>(values: readonly T[], def: T, description: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { default: def, description: `${description} One of: ${values.join(', ')}.` },
  );

const cores = Math.max(1, os.availableParallelism());

export const ConfigSchema = Type.Object({
  KATA_EXEC_HOST: Str('127.0.0.1', 'Address to listen on. Loopback by default: put a proxy or API keys in front before exposing it.'),
  KATA_EXEC_PORT: Int(8080, 0, 65535, 'TCP port to listen on.'),
  KATA_EXEC_LOG_LEVEL: Choice(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info', 'pino log level.'),
  KATA_EXEC_RUNTIME: Choice(
    ['auto', ...RUNTIME_KINDS] as readonly ('auto' | RuntimeKind)[],
    'auto',
    'Sandbox runtime. `auto` picks kata when its shim is installed, else gvisor when runsc is; runc is used only when named.',
  ),
  KATA_EXEC_HYPERVISOR: Choice(['qemu', 'cloud-hypervisor', 'firecracker'] as const, 'qemu', 'Kata hypervisor (kata only).'),
  KATA_EXEC_KATA_SHIM: Choice(
    ['auto', 'per-hypervisor', 'generic'] as const,
    'auto',
    'Which Kata containerd runtime name to use: kata-deploy\'s per-hypervisor handler (io.containerd.kata-qemu.v2, ...) or the generic io.containerd.kata.v2 (Kata 1.x has only that one). `auto`: the per-hypervisor one when its shim is installed, else the generic one.',
  ),
  KATA_EXEC_KATA_CONFIG_PATH: Str('', 'Kata configuration file passed as --runtime-config-path (empty: the shim\'s default).'),
  KATA_EXEC_KERNEL_PATH: Str('', 'Guest kernel for Kata, sent as the io.katacontainers.config.hypervisor.kernel annotation (empty: the configured one).'),
  KATA_EXEC_IMAGE_PATH: Str('', 'Guest image for Kata, sent as the io.katacontainers.config.hypervisor.image annotation (empty: the configured one).'),
  KATA_EXEC_IMAGE: Str(
    'toolruntime-sandbox:latest',
    'The sandbox image in containerd, built by scripts/build-image.sh: toolruntime-sandbox:latest (python, javascript, bash) or toolruntime-sandbox-full:latest (every language: `scripts/build-image.sh full`). A language the image lacks answers 422 LANGUAGE_NOT_AVAILABLE.',
  ),
  KATA_EXEC_CONTAINERD_ADDRESS: Str(
    'auto',
    'containerd socket. `auto`: the system socket /run/containerd/containerd.sock when it answers, else the private one that scripts/containerd.sh starts under KATA_EXEC_RUN_DIR.',
  ),
  KATA_EXEC_NAMESPACE: Str('kata-exec', 'containerd namespace that holds every sandbox of this service.'),
  KATA_EXEC_STATE_DIR: Str('/var/lib/kata-exec', 'Persistent state: the private containerd root and the image archive.'),
  KATA_EXEC_RUN_DIR: Str('/run/kata-exec', 'Volatile state: per-execution code directories, the shared read-only rootfs, the private containerd socket.'),
  KATA_EXEC_CTR_PATH: Str('ctr', 'The ctr binary.'),
  KATA_EXEC_RUNSC_PATH: Str('runsc', 'The runsc (gVisor) binary.'),
  KATA_EXEC_CONCURRENCY: Int(cores, 1, 256, 'Executions that run at once (default: the number of cores).'),
  KATA_EXEC_QUEUE_DEPTH: Int(64, 0, 100000, 'Executions that may wait for a slot; past it requests get 503 with Retry-After.'),
  KATA_EXEC_BODY_LIMIT_BYTES: Int(1048576, 1024, 67108864, 'Largest request body; larger ones get 413.'),
  KATA_EXEC_SHUTDOWN_GRACE_MS: Int(30000, 0, 600000, 'On SIGTERM, how long in-flight executions may take to finish.'),
  KATA_EXEC_API_KEYS: Str(
    '',
    'API keys as `name:sha256hex` pairs, comma-separated; the hex is the SHA-256 of the bearer token (`npm run -s hash-key -- NAME TOKEN` prints the whole entry). Empty: no authentication (then keep the service on loopback).',
  ),
  KATA_EXEC_RATE_LIMIT_PER_MINUTE: Int(600, 0, 1000000, 'Executions a key (or, without keys, a client address) may start per minute; 0: no limit. Past it: 429 RATE_LIMITED.'),
  KATA_EXEC_KEY_CONCURRENCY: Int(
    Math.max(1, Math.ceil(cores / 2)),
    0,
    100000,
    'Executions one key (or, without keys, one client address) may have queued, running or not yet sent at once. Default: half of KATA_EXEC_CONCURRENCY, rounded up, so one client never holds every slot; 0 (no quota) must be asked for. Past it: 429 QUOTA_EXCEEDED.',
  ),
  KATA_EXEC_AUTH_FAILURES_PER_MINUTE: Int(
    30,
    1,
    100000,
    'Failed authentications (401) a client address may cause per minute; past it that address gets 429 RATE_LIMITED until the minute ends.',
  ),
  KATA_EXEC_TRUST_PROXY: Str(
    '',
    'Proxies whose X-Forwarded-For is believed, as comma-separated addresses or CIDR ranges (e.g. `127.0.0.1,10.0.0.0/8`), or a hop count (e.g. `1`). The client address (what rate limits and quotas count by without keys) then comes from that header. Empty: off, every peer is the client.',
  ),
  KATA_EXEC_ALLOWED_HOSTS: Str(
    '',
    'With authentication off: Host header names accepted besides localhost, 127.0.0.1, [::1] and KATA_EXEC_HOST, comma-separated. Others get 403 HOST_NOT_ALLOWED (against DNS rebinding). Unused when API keys are set.',
  ),
  KATA_EXEC_MEMORY_BUDGET_MB: Int(
    512,
    32,
    65536,
    'Memory the service may hold for executions and their answers (running, or finished but not yet sent). Each execution reserves its worst case (see "Output and the size of an answer" in README.md) until its answer is written or its client is gone; past the budget: 503 MEMORY_BUDGET_FULL.',
  ),
  KATA_EXEC_WRITE_TIMEOUT_MS: Int(30000, 1000, 3600000, 'A client that does not take its answer (or the next events of a stream) for this long is disconnected; its execution ends and its memory is freed.'),
  KATA_EXEC_HEADERS_TIMEOUT_MS: Int(10000, 1000, 600000, 'Time a client has to send the request headers.'),
  KATA_EXEC_REQUEST_TIMEOUT_MS: Int(30000, 1000, 3600000, 'Time a client has to send the whole request (headers and body); the execution itself is not counted.'),
  KATA_EXEC_KEEP_ALIVE_TIMEOUT_MS: Int(5000, 100, 600000, 'An idle keep-alive connection is closed after this long.'),
  KATA_EXEC_POOL_SIZE: Int(2, 0, 64, 'Warm sandboxes kept ready per pool class (0: no pool). Each is used once.'),
  KATA_EXEC_POOL_PROFILES: Str(
    'standard,standard:compiled',
    'Comma-separated pool classes to keep warm: `PROFILE` (the profile at its default limits) or `PROFILE:compiled` (the profile at a compiled language\'s default limits: its sandbox has the larger of the profile\'s default memory and KATA_EXEC_COMPILE_MEMORY_MB_DEFAULT; kept only while the image holds a compiled language, and the same class as `PROFILE` when that memory is the same). Other requests run cold.',
  ),
  KATA_EXEC_POOL_MAX_AGE_MS: Int(300000, 1000, 86400000, 'A warm sandbox older than this is replaced.'),
  KATA_EXEC_SESSIONS_PER_KEY: Int(4, 0, 100000, 'Sessions one key (or, without keys, one client address) may have at once; 0 turns sessions off. Past it: 429 SESSION_LIMIT with Retry-After.'),
  KATA_EXEC_SESSIONS_MAX: Int(16, 0, 100000, 'Sessions the whole service may have at once (each is a running sandbox). Past it: 429 SESSION_LIMIT with Retry-After.'),
  KATA_EXEC_SESSION_IDLE_MS_DEFAULT: Int(600000, 1000, 86400000, 'A session with no call for this long is deleted (default of `idleTimeoutMs`).'),
  KATA_EXEC_SESSION_IDLE_MS_MAX: Int(3600000, 1000, 86400000, 'Largest `idleTimeoutMs` a session may ask for.'),
  KATA_EXEC_SESSION_LIFETIME_MS_DEFAULT: Int(3600000, 1000, 604800000, 'A session is deleted this long after its creation, whatever it does (default of `maxLifetimeMs`).'),
  KATA_EXEC_SESSION_LIFETIME_MS_MAX: Int(86400000, 1000, 604800000, 'Largest `maxLifetimeMs` a session may ask for.'),
  KATA_EXEC_SESSION_FILE_MAX_BYTES: Int(
    16777216,
    1024,
    1073741824,
    'Largest file (or directory archive) moved in or out of a session in one request, and the body limit of an upload. Past it: 413 FILE_TOO_LARGE.',
  ),
  KATA_EXEC_OUTPUT_FILES_MAX_COUNT: Int(16, 1, 1000, 'Most files `outputFiles` returns from one execution; more matches set `outputFilesTruncated`.'),
  KATA_EXEC_OUTPUT_FILES_MAX_BYTES: Int(4194304, 1024, 268435456, 'Most bytes (before base64) `outputFiles` returns from one execution, all files together; a file past it is left out and `outputFilesTruncated` set.'),
  KATA_EXEC_TIMEOUT_MS_DEFAULT: Int(10000, 100, 3600000, 'Default wall-clock timeout.'),
  KATA_EXEC_TIMEOUT_MS_MAX: Int(60000, 100, 3600000, 'Largest timeout a request may ask for.'),
  KATA_EXEC_MEMORY_MB_DEFAULT: Int(256, MIN_MEMORY_MB, 1048576, 'Default memory limit (MiB).'),
  KATA_EXEC_MEMORY_MB_MAX: Int(2048, MIN_MEMORY_MB, 1048576, 'Largest memory limit a request may ask for (MiB).'),
  KATA_EXEC_CPUS_DEFAULT: Num(1, 0.01, 1024, 'Default CPU quota (cores).'),
  KATA_EXEC_CPUS_MAX: Num(cores, 0.01, 1024, 'Largest CPU quota a request may ask for (default: the number of cores).'),
  KATA_EXEC_PIDS_DEFAULT: Int(128, 1, 1000000, 'Default process/thread limit.'),
  KATA_EXEC_PIDS_MAX: Int(1024, 1, 1000000, 'Largest process/thread limit a request may ask for.'),
  KATA_EXEC_DISK_MB_DEFAULT: Int(64, 1, 1048576, 'Default size of the writable /tmp (MiB).'),
  KATA_EXEC_DISK_MB_MAX: Int(1024, 1, 1048576, 'Largest /tmp a request may ask for (MiB).'),
  KATA_EXEC_OUTPUT_BYTES_DEFAULT: Int(1048576, 1024, 1073741824, 'Default cap on each of stdout and stderr (bytes).'),
  KATA_EXEC_OUTPUT_BYTES_MAX: Int(16777216, 1024, 1073741824, 'Largest output cap a request may ask for (bytes).'),
  KATA_EXEC_OPEN_FILES_DEFAULT: Int(256, 8, 1048576, 'Default RLIMIT_NOFILE.'),
  KATA_EXEC_OPEN_FILES_MAX: Int(4096, 8, 1048576, 'Largest RLIMIT_NOFILE a request may ask for.'),
  KATA_EXEC_MAX_TESTS: Int(64, 1, 256, 'Most `tests` one request may carry; past it: 400 LIMIT_EXCEEDED at /tests.'),
  KATA_EXEC_TEST_TIMEOUT_MS_DEFAULT: Int(
    2000,
    1,
    3600000,
    'Default wall-clock limit of one test\'s run (`tests[].timeoutMs`). The compile\'s and the tests\' wall-clock limits together must fit in KATA_EXEC_TIMEOUT_MS_MAX.',
  ),
  KATA_EXEC_COMPILE_TIMEOUT_MS_DEFAULT: Int(30000, 1, 3600000, 'Default wall-clock limit of a compile (`compile.timeoutMs`); at most KATA_EXEC_TIMEOUT_MS_MAX.'),
  KATA_EXEC_COMPILE_MEMORY_MB_DEFAULT: Int(
    512,
    MIN_MEMORY_MB,
    1048576,
    "Default memory limit of a compile (`compile.memoryMb`), MiB; at most KATA_EXEC_MEMORY_MB_MAX. A compiled language's sandbox gets the largest of this and the runs' limits; the `PROFILE:compiled` pool classes (KATA_EXEC_POOL_PROFILES) keep sandboxes of that size warm.",
  ),
  KATA_EXEC_COMPILE_OUTPUT_BYTES_DEFAULT: Int(262144, 1024, 1073741824, "Default cap on each of a compiler's stdout and stderr (`compile.outputBytes`); at most KATA_EXEC_OUTPUT_BYTES_MAX."),
});
export type ConfigEnv = Static<typeof ConfigSchema>;

export type RuntimeSetting = ConfigEnv['KATA_EXEC_RUNTIME'];
export type HypervisorSetting = ConfigEnv['KATA_EXEC_HYPERVISOR'];

/**
 * A class of the warm pool: a profile at its default limits ('default'), or at a compiled
 * language's default limits ('compiled': the compile's memory when that is larger).
 */
export interface PoolClass {
  profile: 'dev' | 'standard' | 'hardened';
  kind: 'default' | 'compiled';
}

export interface LimitBounds {
  default: number;
  max: number;
}

export interface Config {
  host: string;
  port: number;
  logLevel: ConfigEnv['KATA_EXEC_LOG_LEVEL'];
  runtime: RuntimeSetting;
  hypervisor: HypervisorSetting;
  kataShim: ConfigEnv['KATA_EXEC_KATA_SHIM'];
  kataConfigPath: string;
  kernelPath: string;
  imagePath: string;
  image: string;
  containerdAddress: string;
  namespace: string;
  stateDir: string;
  runDir: string;
  ctrPath: string;
  runscPath: string;
  concurrency: number;
  queueDepth: number;
  bodyLimitBytes: number;
  shutdownGraceMs: number;
  pool: { size: number; classes: PoolClass[]; maxAgeMs: number };
  sessions: {
    perKey: number;
    max: number;
    idleMs: LimitBounds;
    lifetimeMs: LimitBounds;
    fileMaxBytes: number;
  };
  outputFiles: { maxCount: number; maxBytes: number };
  /** SHA-256 (hex) of each bearer token, by key name. Empty: authentication off. */
  apiKeys: { name: string; sha256: string }[];
  rateLimitPerMinute: number;
  keyConcurrency: number;
  authFailuresPerMinute: number;
  /** Fastify's trustProxy: false (off), addresses/CIDRs, or a hop count. */
  trustProxy: false | string[] | number;
  /** Host header names accepted with authentication off (lower case, without port). */
  allowedHosts: string[];
  memoryBudgetBytes: number;
  timeouts: { writeMs: number; headersMs: number; requestMs: number; keepAliveMs: number };
  limits: {
    timeoutMs: LimitBounds;
    memoryMb: LimitBounds;
    cpus: LimitBounds;
    pids: LimitBounds;
    diskMb: LimitBounds;
    outputBytes: LimitBounds;
    openFiles: LimitBounds;
  };
  /** Compiled languages and tests (issue 14). */
  judge: {
    maxTests: number;
    testTimeoutMs: number;
    compile: { timeoutMs: number; memoryMb: number; outputBytes: number };
  };
}

/** The system containerd socket, tried first when KATA_EXEC_CONTAINERD_ADDRESS=auto. */
export const SYSTEM_CONTAINERD_SOCKET = '/run/containerd/containerd.sock';

export function privateContainerdSocket(runDir: string): string {
  return `${runDir}/containerd/containerd.sock`;
}

const HOSTNAME_RE = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]{0,252}))$/;
const CIDR_RE = /^([0-9.]+|[0-9a-fA-F:.]+)(\/\d{1,3})?$/;

/** '' -> false; '2' -> 2 hops; 'a,b/8' -> addresses; null when malformed. */
function parseTrustProxy(v: string): false | string[] | number | null {
  const t = v.trim();
  if (t === '') return false;
  if (/^\d+$/.test(t)) return Number(t) >= 1 && Number(t) <= 16 ? Number(t) : null;
  const list = t.split(',').map((s) => s.trim()).filter(Boolean);
  return list.length > 0 && list.every((s) => CIDR_RE.test(s) && /[.:]/.test(s)) ? list : null;
}

/**
 * The most memory one execution can make the service hold, by its output cap: the two
 * captures while it runs (2 x outputBytes), the decoded text and its JSON answer (each
 * stream at most 2 x outputBytes as JSON, `value` at most as much again), and with
 * streaming the live events (at most 2 x outputBytes + 64 KiB per stream). V8 may keep text as
 * two bytes a character: hence the factors. Admission reserves this against
 * KATA_EXEC_MEMORY_BUDGET_MB.
 */
export function worstCaseExecutionBytes(outputBytes: number, streaming: boolean): number {
  return (streaming ? 24 : 16) * outputBytes + (streaming ? 256 : 64) * 1024;
}

const NAMESPACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/;
const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;

function describe(schema: TSchema): string {
  const s = schema as { description?: string; minimum?: number; maximum?: number; anyOf?: { const: string }[] };
  if (s.anyOf) return `one of ${s.anyOf.map((a) => a.const).join(', ')}`;
  if (s.minimum !== undefined) return `a number from ${s.minimum} to ${s.maximum}`;
  return 'a string';
}

/**
 * Variables of the scripts (setup, quickstart, image builds, test harnesses), not settings
 * of the server: loadConfig ignores them, so that one environment can drive both (e.g.
 * `KATA_EXEC_SKIP_APT=1 bash scripts/quickstart.sh`). The README lists them.
 */
export const SCRIPT_VARIABLES: Readonly<Record<string, string>> = {
  KATA_EXEC_SKIP_APT: 'scripts/setup.sh: `1` skips apt-get (the packages are already installed).',
  KATA_EXEC_SHIM_PATH: 'scripts/containerd.sh: directories (`:`-separated) put first on the private containerd\'s PATH, where it finds runtime shims.',
  KATA_EXEC_DEB_MIRROR: 'scripts/build-image.sh, build-node-base.sh: the Debian mirror (default: the first URI of the host\'s apt sources).',
  KATA_EXEC_DEB_SUITE: 'scripts/build-image.sh, build-node-base.sh: the Debian suite (`bookworm`).',
  KATA_EXEC_IMAGE_VARIANT:
    'scripts/build-image.sh, setup.sh, quickstart.sh: the sandbox image to build (and, for setup.sh and quickstart.sh, import and run): `default` (python with numpy, javascript, bash; toolruntime-sandbox:latest) or `full` (every language; toolruntime-sandbox-full:latest). setup.sh `test` builds both (the tests run the full one).',
  KATA_EXEC_NODE_IMAGE: 'scripts/test-container.sh, test-systemd-unit.sh: the Node base image.',
  KATA_EXEC_TEST_RUNTIMES: 'scripts/test-container.sh: the runtimes to run the container with, comma-separated.',
  KATA_EXEC_TEST_PRIVILEGED: 'scripts/test-container.sh: `1` runs it with --privileged instead of the exact capabilities.',
};

/**
 * Parses the environment once. Unknown KATA_EXEC_* variables are errors too: a typo must
 * not pass silently. The scripts' own variables (SCRIPT_VARIABLES) are ignored.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const known = ConfigSchema.properties as Record<string, TSchema>;
  const raw: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('KATA_EXEC_') || name in SCRIPT_VARIABLES) continue;
    if (!(name in known)) {
      problems.push(`${name} is not a setting of kata-exec (see the configuration table in README.md)`);
      continue;
    }
    if (value === undefined || value === '') continue;
    const s = known[name] as { type?: string };
    // Value.Convert would turn "2.7" into 2 for an integer, or "false" into 0: refuse instead.
    if ((s.type === 'integer' && !/^-?\d+$/.test(value)) || (s.type === 'number' && !/^-?(\d+\.?\d*|\.\d+)$/.test(value))) {
      problems.push(`${name}=${JSON.stringify(value)} is invalid: set it to ${describe(known[name]!)}`);
      continue;
    }
    raw[name] = value;
  }
  const withDefaults = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw));
  for (const err of Value.Errors(ConfigSchema, withDefaults)) {
    const name = err.instancePath.replace(/^\//, '');
    const schema = known[name];
    if (!schema) continue;
    problems.push(`${name}=${JSON.stringify(env[name])} is invalid: set it to ${describe(schema)}`);
  }
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  const e = withDefaults as ConfigEnv;

  if (!NAMESPACE_RE.test(e.KATA_EXEC_NAMESPACE)) problems.push('KATA_EXEC_NAMESPACE must be letters, digits, ".", "_" or "-"');
  if (!IMAGE_RE.test(e.KATA_EXEC_IMAGE)) problems.push('KATA_EXEC_IMAGE must be an image reference such as toolruntime-sandbox:latest');
  for (const dir of ['KATA_EXEC_STATE_DIR', 'KATA_EXEC_RUN_DIR'] as const) {
    if (!e[dir].startsWith('/')) problems.push(`${dir} must be an absolute path`);
  }
  const pairs = [
    ['TIMEOUT_MS', 'timeoutMs'],
    ['MEMORY_MB', 'memoryMb'],
    ['CPUS', 'cpus'],
    ['PIDS', 'pids'],
    ['DISK_MB', 'diskMb'],
    ['OUTPUT_BYTES', 'outputBytes'],
    ['OPEN_FILES', 'openFiles'],
  ] as const;
  const limits = {} as Config['limits'];
  for (const [envName, key] of pairs) {
    const def = e[`KATA_EXEC_${envName}_DEFAULT`];
    const max = e[`KATA_EXEC_${envName}_MAX`];
    if (def > max) problems.push(`KATA_EXEC_${envName}_DEFAULT (${def}) is above KATA_EXEC_${envName}_MAX (${max}): lower the default or raise the maximum`);
    limits[key] = { default: def, max };
  }
  const apiKeys: Config['apiKeys'] = [];
  for (const entry of e.KATA_EXEC_API_KEYS.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9_.-]{1,64}):([0-9a-fA-F]{64})$/.exec(entry);
    if (!m) {
      problems.push('KATA_EXEC_API_KEYS must be name:sha256hex pairs separated by commas (the hex is 64 digits: npm run -s hash-key -- NAME TOKEN)');
      break;
    }
    if (apiKeys.some((k) => k.name === m[1])) problems.push(`KATA_EXEC_API_KEYS names "${m[1]}" twice`);
    apiKeys.push({ name: m[1]!, sha256: m[2]!.toLowerCase() });
  }
  const trustProxy = parseTrustProxy(e.KATA_EXEC_TRUST_PROXY);
  if (trustProxy === null) {
    problems.push('KATA_EXEC_TRUST_PROXY must be empty, a hop count such as 1, or comma-separated addresses or CIDR ranges such as 127.0.0.1,10.0.0.0/8');
  }
  const allowedHosts = e.KATA_EXEC_ALLOWED_HOSTS.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  const badHost = allowedHosts.find((h) => !HOSTNAME_RE.test(h));
  if (badHost) problems.push(`KATA_EXEC_ALLOWED_HOSTS has "${badHost}": set comma-separated host names or addresses, without port`);
  // KATA_EXEC_KEY_CONCURRENCY's default follows KATA_EXEC_CONCURRENCY when that is set.
  const keyConcurrency = env.KATA_EXEC_KEY_CONCURRENCY ? e.KATA_EXEC_KEY_CONCURRENCY : Math.max(1, Math.ceil(e.KATA_EXEC_CONCURRENCY / 2));
  if (e.KATA_EXEC_HEADERS_TIMEOUT_MS > e.KATA_EXEC_REQUEST_TIMEOUT_MS) {
    problems.push('KATA_EXEC_HEADERS_TIMEOUT_MS is above KATA_EXEC_REQUEST_TIMEOUT_MS: the headers are part of the request, lower it');
  }
  const memoryBudgetBytes = e.KATA_EXEC_MEMORY_BUDGET_MB * 1024 * 1024;
  const biggest = worstCaseExecutionBytes(e.KATA_EXEC_OUTPUT_BYTES_MAX, true);
  if (biggest > memoryBudgetBytes) {
    problems.push(
      `KATA_EXEC_MEMORY_BUDGET_MB (${e.KATA_EXEC_MEMORY_BUDGET_MB}) cannot hold one streamed execution at KATA_EXEC_OUTPUT_BYTES_MAX (${Math.ceil(biggest / 1048576)} MiB): raise the budget or lower the maximum`,
    );
  }
  for (const [envName] of [['SESSION_IDLE_MS'], ['SESSION_LIFETIME_MS']] as const) {
    const def = e[`KATA_EXEC_${envName}_DEFAULT`];
    const max = e[`KATA_EXEC_${envName}_MAX`];
    if (def > max) problems.push(`KATA_EXEC_${envName}_DEFAULT (${def}) is above KATA_EXEC_${envName}_MAX (${max}): lower the default or raise the maximum`);
  }
  const poolClasses: PoolClass[] = [];
  for (const entry of e.KATA_EXEC_POOL_PROFILES.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(dev|standard|hardened)(?::(compiled))?$/.exec(entry);
    if (!m) {
      problems.push(`KATA_EXEC_POOL_PROFILES has "${entry}": set a comma-separated list of dev, standard, hardened, each alone or followed by :compiled`);
      continue;
    }
    const c: PoolClass = { profile: m[1] as PoolClass['profile'], kind: m[2] ? 'compiled' : 'default' };
    if (!poolClasses.some((x) => x.profile === c.profile && x.kind === c.kind)) poolClasses.push(c);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    host: e.KATA_EXEC_HOST,
    port: e.KATA_EXEC_PORT,
    logLevel: e.KATA_EXEC_LOG_LEVEL,
    runtime: e.KATA_EXEC_RUNTIME,
    hypervisor: e.KATA_EXEC_HYPERVISOR,
    kataShim: e.KATA_EXEC_KATA_SHIM,
    kataConfigPath: e.KATA_EXEC_KATA_CONFIG_PATH,
    kernelPath: e.KATA_EXEC_KERNEL_PATH,
    imagePath: e.KATA_EXEC_IMAGE_PATH,
    image: e.KATA_EXEC_IMAGE,
    containerdAddress: e.KATA_EXEC_CONTAINERD_ADDRESS,
    namespace: e.KATA_EXEC_NAMESPACE,
    stateDir: e.KATA_EXEC_STATE_DIR,
    runDir: e.KATA_EXEC_RUN_DIR,
    ctrPath: e.KATA_EXEC_CTR_PATH,
    runscPath: e.KATA_EXEC_RUNSC_PATH,
    concurrency: e.KATA_EXEC_CONCURRENCY,
    queueDepth: e.KATA_EXEC_QUEUE_DEPTH,
    bodyLimitBytes: e.KATA_EXEC_BODY_LIMIT_BYTES,
    shutdownGraceMs: e.KATA_EXEC_SHUTDOWN_GRACE_MS,
    apiKeys,
    rateLimitPerMinute: e.KATA_EXEC_RATE_LIMIT_PER_MINUTE,
    keyConcurrency,
    authFailuresPerMinute: e.KATA_EXEC_AUTH_FAILURES_PER_MINUTE,
    trustProxy: trustProxy ?? false,
    allowedHosts,
    memoryBudgetBytes,
    timeouts: {
      writeMs: e.KATA_EXEC_WRITE_TIMEOUT_MS,
      headersMs: e.KATA_EXEC_HEADERS_TIMEOUT_MS,
      requestMs: e.KATA_EXEC_REQUEST_TIMEOUT_MS,
      keepAliveMs: e.KATA_EXEC_KEEP_ALIVE_TIMEOUT_MS,
    },
    pool: {
      size: e.KATA_EXEC_POOL_SIZE,
      classes: poolClasses,
      maxAgeMs: e.KATA_EXEC_POOL_MAX_AGE_MS,
    },
    sessions: {
      perKey: e.KATA_EXEC_SESSIONS_PER_KEY,
      max: e.KATA_EXEC_SESSIONS_MAX,
      idleMs: { default: e.KATA_EXEC_SESSION_IDLE_MS_DEFAULT, max: e.KATA_EXEC_SESSION_IDLE_MS_MAX },
      lifetimeMs: { default: e.KATA_EXEC_SESSION_LIFETIME_MS_DEFAULT, max: e.KATA_EXEC_SESSION_LIFETIME_MS_MAX },
      fileMaxBytes: e.KATA_EXEC_SESSION_FILE_MAX_BYTES,
    },
    outputFiles: { maxCount: e.KATA_EXEC_OUTPUT_FILES_MAX_COUNT, maxBytes: e.KATA_EXEC_OUTPUT_FILES_MAX_BYTES },
    limits,
    judge: {
      maxTests: e.KATA_EXEC_MAX_TESTS,
      testTimeoutMs: e.KATA_EXEC_TEST_TIMEOUT_MS_DEFAULT,
      compile: {
        timeoutMs: e.KATA_EXEC_COMPILE_TIMEOUT_MS_DEFAULT,
        memoryMb: e.KATA_EXEC_COMPILE_MEMORY_MB_DEFAULT,
        outputBytes: e.KATA_EXEC_COMPILE_OUTPUT_BYTES_DEFAULT,
      },
    },
  };
}

/** The README's configuration table, generated from the schema. */
export function configTable(): string {
  const rows = ['| Variable | Default | Meaning |', '| --- | --- | --- |'];
  for (const [name, schema] of Object.entries(ConfigSchema.properties as Record<string, TSchema>)) {
    const s = schema as { default?: unknown; description?: string };
    let def = s.default === '' ? '(empty)' : String(s.default);
    if (name === 'KATA_EXEC_CONCURRENCY' || name === 'KATA_EXEC_CPUS_MAX') def = 'cores';
    if (name === 'KATA_EXEC_KEY_CONCURRENCY') def = 'concurrency/2';
    rows.push(`| \`${name}\` | \`${def}\` | ${s.description ?? ''} |`);
  }
  rows.push('', 'The scripts read these too; they are not settings, and the server ignores them:', '', '| Variable | Used by |', '| --- | --- |');
  for (const [name, used] of Object.entries(SCRIPT_VARIABLES)) rows.push(`| \`${name}\` | ${used} |`);
  return rows.join('\n');
}
