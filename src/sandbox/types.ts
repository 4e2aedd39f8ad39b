/**
 * The runner layer's contract: the counterparts of the reference Go package's
 * SandboxSpec, ResourceSpec, SecuritySpec, SandboxResult, SandboxRunner, ImageResolver,
 * HealthChecker and Logger (kata-backend-api.txt). Validation lives in spec.ts.
 */
import type { Hypervisor, RuntimeKind } from '../schemas/common.js';

/** ResourceSpec: limits the sandbox enforces. Zero means "not set". */
export interface ResourceSpec {
  memoryBytes: number;
  /** CPU quota in millicores (1000 = one core). */
  cpuMillis: number;
  pids: number;
  /** Size of the writable /tmp tmpfs. */
  tmpfsBytes: number;
  openFiles: number;
  /** Cap per output stream; the head and the tail are kept. */
  outputBytes: number;
}

export type NetworkMode = 'none' | 'host';
export type SeccompProfile = 'default' | 'strict' | 'unconfined';

/** SecuritySpec: what the sandboxed program may do. */
export interface SecuritySpec {
  /** "uid:gid". */
  user: string;
  readOnlyRootfs: boolean;
  networkMode: NetworkMode;
  seccompProfile: SeccompProfile;
  privileged: boolean;
}

/** A file the program needs, written by the launcher into its working directory (/code). */
export interface SandboxFile {
  /** Relative path inside /code, already validated. */
  path: string;
  content: Buffer;
}

/** SandboxSpec: what to run, where and under which limits. Runners never mutate it. */
export interface SandboxSpec {
  /** Execution id: unique, also the container id. */
  id: string;
  image: string;
  runtime: RuntimeKind;
  hypervisor: Hypervisor | null;
  kernelPath: string;
  imagePath: string;
  command: string[];
  workingDir: string;
  /** "NAME=value" entries: the sandbox's own environment, the start wrapper's too. */
  env: string[];
  /**
   * "NAME=value" entries the program gets on top of `env` (the request's): they travel in
   * the launcher's request and reach the program's environment only, never the launcher's.
   */
  programEnv: string[];
  files: SandboxFile[];
  /** Standard input of the program; null: empty (end of file at once). */
  stdin: Buffer | null;
  resources: ResourceSpec;
  security: SecuritySpec;
  timeoutMs: number;
  /**
   * What a cold start made again (start-retry.ts) gets of `timeoutMs`. 'left' (the default):
   * what is left of it since the first attempt, for a deadline the caller set, which counts
   * from the request. 'whole': all of it again, for a deadline the service set itself (no
   * timeoutMs in the request: the default, or the steps' limits plus room for the start), so
   * that a start that failed is never charged to the program, nor cuts a run short and gives
   * it the wrong verdict.
   */
  retryTimeout?: 'left' | 'whole';
  labels: Record<string, string>;
  /** Files to bring back from /code after the program (globs), within these bounds. */
  collect?: { patterns: string[]; maxCount: number; maxBytes: number };
  /**
   * Several programs in this one sandbox, in order, each a fresh process with limits of its
   * own (a compile, then one run per test). When present the launcher runs them instead of
   * `command` / `stdin` (which may then be empty); `timeoutMs` still bounds the whole
   * sandbox. At most MAX_STEPS (spec.ts).
   */
  steps?: SandboxStep[];
}

/** One program of a multi-step run (`SandboxSpec.steps`). */
export interface SandboxStep {
  /** argv, run in /code as the program's user. */
  command: string[];
  /** "NAME=value" on top of spec.env and spec.programEnv. */
  env?: string[];
  /** Its standard input; null: empty. */
  stdin: Buffer | null;
  /** Wall-clock limit of this step: the launcher kills its processes past it. */
  wallMs: number;
  /** CPU-time limit (user+sys) of this step; null: none. */
  cpuMs: number | null;
  /** Peak-RSS limit of this step, KiB; null: only the sandbox's memory limit. */
  memoryKb: number | null;
  /** Cap per stream for this step (head and tail kept); far past it the step is killed. */
  outputBytes: number;
  /** True (a compile): the later steps do not run unless this one exits 0. */
  required: boolean;
}

/**
 * Which limit of a step ended it. 'oom': the kernel's OOM killer (the sandbox's memory).
 * 'pids': the sandbox's pids cgroup ended the whole sandbox under the step (gVisor's
 * backstop; SandboxResult.pidsLimitHit); never a word of the launcher's.
 */
export type StepLimit = 'wall' | 'cpu' | 'memory' | 'output' | 'oom' | 'pids';

/** What one step did (`SandboxResult.steps`). */
export interface StepResult {
  exitCode: number | null;
  signal: string | null;
  stdout: CapturedStream;
  stderr: CapturedStream;
  /** Which limit of the step ended it; null when it ended by itself. */
  limit: StepLimit | null;
  wallMs: number;
  /** wait4's rusage of the step (its waited-for children included). */
  usage: Usage;
}

export interface CapturedStream {
  /** What was kept: the whole stream, or its head and tail around a marker. */
  data: Buffer;
  totalBytes: number;
  droppedBytes: number;
}

/** What the program used, from the launcher's wait4 (its waited-for children included). */
export interface Usage {
  cpuUserMs: number;
  cpuSysMs: number;
  /** Peak resident set size, KiB. */
  maxRssKb: number;
}

/** SandboxResult: what came out. A program that failed is a result, not an error. */
export interface SandboxResult {
  exitCode: number | null;
  signal: string | null;
  stdout: CapturedStream;
  stderr: CapturedStream;
  timedOut: boolean;
  oomKilled: boolean;
  /** The sandbox was stopped because its output went far past the cap. */
  outputLimitHit: boolean;
  /**
   * The sandbox ended, with no end from the launcher, at its pids cgroup: under gVisor a host
   * backstop above the program's pids limit, which the Sentry cannot pass and live
   * (sandbox/pids-limit.ts). Told by the host (the cgroup's pids.events, the kernel's
   * report), never by the sandbox. Absent: false.
   */
  pidsLimitHit?: boolean;
  /** Null when the program's end was not seen (a timeout, the output cap, a sandbox that died). */
  usage: Usage | null;
  /** Deleting the sandbox happens after the answer: its time is a metric, not part of this. */
  timing: { setupMs: number; runMs: number };
  /** The container the program ran in, when not the spec's id (a warm sandbox keeps its own). */
  sandboxId?: string;
  /** With `collect`: the files that matched (regular files, never through a link), path order. */
  files?: { path: string; content: Buffer }[];
  filesTruncated?: boolean;
  /**
   * With `spec.steps`: the steps that ran, in order (a required step that failed is the
   * last; a sandbox killed as a whole ends the list at the step it was in, which may then
   * lack its end). The top-level exitCode, signal, usage, stdout and stderr are then those
   * of the last step that ran.
   */
  steps?: StepResult[];
}

export interface RunOptions {
  signal?: AbortSignal;
  /**
   * Each chunk of output as the program writes it (streaming); the captures still apply.
   * `step`: with `spec.steps`, the index of the step that wrote it (undefined otherwise).
   */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer, step?: number) => void;
}

/**
 * SandboxRunner executes one spec in a fresh sandbox.
 * Contract: safe for concurrent use; honours `signal` and `spec.timeoutMs`; never
 * mutates the spec; whatever happens, nothing of the sandbox survives the call.
 * Throws KataExecError subclasses only for failures of the service or the runtime.
 */
export interface SandboxRunner {
  run(spec: SandboxSpec, opts?: RunOptions): Promise<SandboxResult>;
}

/** A started sandbox of the warm pool, idle, untouched by user code: its launcher waits for a request. */
export interface WarmSandbox {
  id: string;
  /** The spec it was made from: its limits and security are fixed. */
  template: SandboxSpec;
  createdAt: number;
  createMs: number;
  /** False once its ctr client ended or its launcher stream broke: it is never handed out then. */
  alive(): boolean;
}

/**
 * The warm pool's side of a runner: create a sandbox ahead of time, run one program in it
 * and destroy it (a warm sandbox is used once), or destroy it unused. Every spec is
 * validated as on the cold path.
 */
export interface WarmSandboxRunner extends SandboxRunner {
  createWarm(template: SandboxSpec): Promise<WarmSandbox>;
  /**
   * The result comes back before the sandbox is deleted; `destroyed` settles when it is.
   * Rejects with WarmSandboxLostError when the sandbox died before the program started
   * (the caller then runs it cold).
   */
  runWarm(warm: WarmSandbox, spec: SandboxSpec, opts?: RunOptions): Promise<{ result: SandboxResult; destroyed: Promise<void> }>;
  destroyWarm(warm: WarmSandbox): Promise<void>;
}

export interface ImageInfo {
  ref: string;
  /** Language versions read from the image's labels. */
  labels: Record<string, string>;
}

/** An image ready to run: its rootfs, mounted read-only on the host. */
export interface ResolvedImage extends ImageInfo {
  digest: string;
  rootfsPath: string;
}

/** ImageResolver: checks that an image is present and prepares what running it needs. */
export interface ImageResolver {
  resolve(image: string): Promise<ResolvedImage>;
}

export interface HealthReport {
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
}

/** HealthChecker: is the runtime usable right now? */
export interface HealthChecker {
  check(): Promise<HealthReport>;
}

/** Logger: pino's shape. Best-effort, safe for concurrent use. */
export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}
