/**
 * Domain errors. Each carries a stable `code`; the HTTP layer maps codes to statuses in
 * one table (src/http/error-map.ts). Messages are written for the API user: they never
 * hold a host path, an argv or a stack. Operator detail goes in `cause`, which is logged
 * and never sent.
 *
 * Every error class of the service lives here. The first six mirror the reference Go
 * package's errors (kata-backend-api.txt); then the request's, the queue's and the HTTP
 * layer's; last the two that never reach a client: CtrError (the ctr layer's, turned into
 * one of the above by the sandbox layer) and ConfigError (start-up).
 */

export const ErrorCode = {
  KataNotAvailable: 'KATA_NOT_AVAILABLE',
  VmCreationFailed: 'VM_CREATION_FAILED',
  VmExecutionFailed: 'VM_EXECUTION_FAILED',
  RunnerNotConfigured: 'RUNNER_NOT_CONFIGURED',
  DaemonUnavailable: 'DAEMON_UNAVAILABLE',
  SecurityViolation: 'SECURITY_VIOLATION',
  InvalidSpec: 'INVALID_SPEC',
  ValidationFailed: 'VALIDATION_FAILED',
  UnknownLanguage: 'UNKNOWN_LANGUAGE',
  LanguageNotAvailable: 'LANGUAGE_NOT_AVAILABLE',
  LimitExceeded: 'LIMIT_EXCEEDED',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  ImageNotFound: 'IMAGE_NOT_FOUND',
  ImageIncompatible: 'IMAGE_INCOMPATIBLE',
  RuntimeNotInstalled: 'RUNTIME_NOT_INSTALLED',
  QueueFull: 'QUEUE_FULL',
  ShuttingDown: 'SHUTTING_DOWN',
  ProfileNotSupported: 'PROFILE_NOT_SUPPORTED',
  NotFound: 'NOT_FOUND',
  ClientClosed: 'CLIENT_CLOSED',
  Unauthorized: 'UNAUTHORIZED',
  RateLimited: 'RATE_LIMITED',
  QuotaExceeded: 'QUOTA_EXCEEDED',
  HostNotAllowed: 'HOST_NOT_ALLOWED',
  MemoryBudgetFull: 'MEMORY_BUDGET_FULL',
  SessionNotFound: 'SESSION_NOT_FOUND',
  SessionLimit: 'SESSION_LIMIT',
  SessionBusy: 'SESSION_BUSY',
  SessionGone: 'SESSION_GONE',
  FileNotFound: 'FILE_NOT_FOUND',
  PathNotAllowed: 'PATH_NOT_ALLOWED',
  NotAFile: 'NOT_A_FILE',
  FileTooLarge: 'FILE_TOO_LARGE',
  DiskFull: 'DISK_FULL',
  NotSupported: 'NOT_SUPPORTED',
  TimeBudgetExceeded: 'TIME_BUDGET_EXCEEDED',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface FieldError {
  /** JSON pointer to the field at fault, e.g. `/limits/memoryMb`. */
  path: string;
  message: string;
}

export class KataExecError extends Error {
  readonly code: ErrorCode;
  readonly fields: FieldError[] | undefined;
  /** Seconds a client should wait before trying again, for 503s that will pass. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; fields?: FieldError[]; retryAfterSeconds?: number } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.fields = opts.fields;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

type Opts = { cause?: unknown };


/** ErrKataNotAvailable: Kata's containerd shim is not installed on this host. */
export class KataNotAvailableError extends KataExecError {
  constructor(message = 'Kata Containers is not available on this host', opts: Opts = {}) {
    super(ErrorCode.KataNotAvailable, message, opts);
  }
}

/** ErrVMCreationFailed: the sandbox could not be created or started. */
export class VmCreationFailedError extends KataExecError {
  constructor(message = 'the sandbox could not be created', opts: Opts = {}) {
    super(ErrorCode.VmCreationFailed, message, opts);
  }
}

/**
 * ErrVMExecutionFailed: the sandbox exists and runs, but the program could not be started
 * in it: `ctr tasks exec` into a warm (pooled) sandbox failed before the start marker.
 * VM_CREATION_FAILED is the cold path's counterpart, where the sandbox itself failed.
 */
export class VmExecutionFailedError extends KataExecError {
  constructor(message = 'the sandbox failed while running', opts: Opts = {}) {
    super(ErrorCode.VmExecutionFailed, message, opts);
  }
}

/** ErrClientNotConfigured: no SandboxRunner was given to the executor. */
export class RunnerNotConfiguredError extends KataExecError {
  constructor(message = 'no sandbox runner is configured', opts: Opts = {}) {
    super(ErrorCode.RunnerNotConfigured, message, opts);
  }
}

/** ErrDaemonUnavailable: containerd does not answer. */
export class DaemonUnavailableError extends KataExecError {
  constructor(message = 'containerd is not reachable', opts: Opts = {}) {
    super(ErrorCode.DaemonUnavailable, message, { ...opts, retryAfterSeconds: 5 });
  }
}

/** ErrSecurityViolation: the spec asks for something the security policy forbids. */
export class SecurityViolationError extends KataExecError {
  constructor(message: string, fields?: FieldError[]) {
    super(ErrorCode.SecurityViolation, message, fields ? { fields } : {});
  }
}

/** A spec with values out of range (negative limits, empty command...). */
export class InvalidSpecError extends KataExecError {
  constructor(message: string, fields?: FieldError[]) {
    super(ErrorCode.InvalidSpec, message, fields ? { fields } : {});
  }
}

/** The chosen sandbox runtime (gVisor, runc) is not installed. Kata has its own code. */
export class RuntimeUnavailableError extends KataExecError {
  constructor(message: string) {
    super(ErrorCode.RuntimeNotInstalled, message);
  }
}

/** ctr exited 0 but not one byte came out, not even the start marker. */
export class LostOutputError extends VmCreationFailedError {
  constructor(cause: string) {
    super('the sandbox ran but its output was lost', { cause });
  }
}

/**
 * A pooled sandbox died before its program started (its VM or container gone, its launcher
 * ended): nothing of the request ran, and the pool runs it cold instead. Never answered.
 */
export class WarmSandboxLostError extends VmExecutionFailedError {
  constructor(cause: string) {
    super('the pooled sandbox was gone before the program started', { cause });
  }
}

/** Kata: the VM started but its agent never answered ("Failed to check if grpc server is working"). */
export class VmAgentUnreachableError extends VmCreationFailedError {
  constructor(cause: string) {
    super('the sandbox VM did not answer', { cause });
  }
}

// The request

/** The request is well-formed JSON but its program does not make sense (files, env, args). */
export class InvalidRequestError extends KataExecError {
  constructor(fields: FieldError[]) {
    super(ErrorCode.ValidationFailed, `invalid request: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`, { fields });
  }
}

export class UnknownLanguageError extends KataExecError {
  constructor(
    language: string,
    readonly known: string[],
  ) {
    super(ErrorCode.UnknownLanguage, `unknown language "${language}"; known languages: ${known.join(', ')}`, {
      fields: [{ path: '/language', message: `must be one of ${known.join(', ')}` }],
    });
  }
}

/** A language this service knows that the running sandbox image does not hold. */
export class LanguageNotAvailableError extends KataExecError {
  constructor(language: string, image: string, holder: string) {
    super(
      ErrorCode.LanguageNotAvailable,
      `language "${language}" is not in this service's sandbox image (${image}); the image ${holder} holds it (scripts/build-image.sh full builds it; run the service with KATA_EXEC_IMAGE=${holder})`,
      { fields: [{ path: '/language', message: `not in the sandbox image ${image}` }] },
    );
  }
}

export class LimitExceededError extends KataExecError {
  constructor(fields: FieldError[]) {
    super(ErrorCode.LimitExceeded, `limits above the server maximum: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`, { fields });
  }
}

export class ProfileNotSupportedError extends KataExecError {
  constructor(profile: string, runtime: string) {
    super(
      ErrorCode.ProfileNotSupported,
      `profile "${profile}" needs a VM or gVisor runtime; this service runs ${runtime}${profile === 'dev' ? ", where root inside the sandbox would be the host's root" : ''}. Use profile "standard", or run the service with KATA_EXEC_RUNTIME=gvisor or kata`,
    );
  }
}

/** The sandbox image is not in containerd (503: setup may still be importing it). */
export class ImageNotFoundError extends KataExecError {
  constructor(image: string) {
    super(
      ErrorCode.ImageNotFound,
      `the sandbox image ${image} is not in containerd: run "npm run setup" (scripts/setup.sh builds and imports it)`,
      { retryAfterSeconds: 30 },
    );
  }
}

/** The image holds no launcher this service speaks to (503: an image built by another version, or by hand). */
export class ImageIncompatibleError extends KataExecError {
  constructor(image: string, why: string) {
    super(
      ErrorCode.ImageIncompatible,
      `the sandbox image ${image} ${why}: rebuild and import it with "npm run setup" (scripts/build-image.sh puts the launcher in it)`,
      { retryAfterSeconds: 30 },
    );
  }
}

// The queue and the HTTP layer

export class QueueFullError extends KataExecError {
  constructor(depth: number, retryAfterSeconds: number) {
    super(ErrorCode.QueueFull, `the service is at capacity (${depth} executions waiting); retry later`, { retryAfterSeconds });
  }
}

export class ShuttingDownError extends KataExecError {
  constructor() {
    super(ErrorCode.ShuttingDown, 'the service is shutting down; retry on another instance', { retryAfterSeconds: 5 });
  }
}

/** The client went away while its execution waited: nobody is left to answer. */
export class AbortedError extends KataExecError {
  constructor() {
    super(ErrorCode.ClientClosed, 'the client closed the request while it waited in the queue');
  }
}

export class QuotaExceededError extends KataExecError {
  constructor(limit: number) {
    super(ErrorCode.QuotaExceeded, `this key already has ${limit} executions queued or running; retry when one ends`, { retryAfterSeconds: 1 });
  }
}

export class RateLimitedError extends KataExecError {
  constructor(retryAfterSeconds: number, what = 'too many executions for this key') {
    super(ErrorCode.RateLimited, `${what}; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}

/** With authentication off, a Host header that is not an allowed name (DNS rebinding). */
export class HostNotAllowedError extends KataExecError {
  constructor(
    message = 'authentication is off and this Host header is not one the service answers to; call it as localhost or add the name to KATA_EXEC_ALLOWED_HOSTS',
  ) {
    super(ErrorCode.HostNotAllowed, message);
  }
}

/** Executions in flight and unsent answers hold the whole memory budget. */
export class MemoryBudgetFullError extends KataExecError {
  constructor(budgetBytes: number) {
    super(
      ErrorCode.MemoryBudgetFull,
      `the service holds its whole memory budget (${Math.round(budgetBytes / 1048576)} MiB) for executions and unsent answers; retry later or ask for a smaller limits.outputBytes`,
      { retryAfterSeconds: 2 },
    );
  }
}

export class UnauthorizedError extends KataExecError {
  constructor(message: string) {
    super(ErrorCode.Unauthorized, message);
  }
}

// Sessions and their files

/** No session of this id for this key: another key's session is not found either. */
export class SessionNotFoundError extends KataExecError {
  constructor(id: string) {
    super(ErrorCode.SessionNotFound, `no session ${id} (it ended, expired, or belongs to another key)`);
  }
}

export class SessionLimitError extends KataExecError {
  constructor(message: string, retryAfterSeconds: number) {
    super(ErrorCode.SessionLimit, message, { retryAfterSeconds });
  }
}

/** Calls into one session run one at a time; this many already wait. */
export class SessionBusyError extends KataExecError {
  constructor(waiting: number) {
    super(ErrorCode.SessionBusy, `the session already has a call running and ${waiting} waiting; calls into one session run one at a time`, { retryAfterSeconds: 1 });
  }
}

/** The session's sandbox died (or was killed): the session has been deleted. */
export class SessionGoneError extends KataExecError {
  constructor(id: string, cause?: unknown) {
    super(ErrorCode.SessionGone, `session ${id} ended: its sandbox is gone; create a new session`, { cause });
  }
}

export class FileNotFoundError extends KataExecError {
  constructor(path: string) {
    super(ErrorCode.FileNotFound, `no file or directory ${JSON.stringify(path)} in the session's workspace`);
  }
}

/** A path the rules refuse, or one whose way goes through a symbolic link (never followed). */
export class PathNotAllowedError extends KataExecError {
  constructor(message: string) {
    super(ErrorCode.PathNotAllowed, message);
  }
}

export class NotAFileError extends KataExecError {
  constructor(message: string) {
    super(ErrorCode.NotAFile, message);
  }
}

export class FileTooLargeError extends KataExecError {
  constructor(maxBytes: number) {
    super(ErrorCode.FileTooLarge, `larger than the ${maxBytes} bytes one request may move (KATA_EXEC_SESSION_FILE_MAX_BYTES)`);
  }
}

export class DiskFullError extends KataExecError {
  constructor() {
    super(ErrorCode.DiskFull, "the session's workspace is full (its limits.diskMb)");
  }
}

// Compiled languages and tests

/** The request asks for something this service does not do (on this runtime, or at all). */
export class NotSupportedError extends KataExecError {
  constructor(message: string, fields?: FieldError[]) {
    super(ErrorCode.NotSupported, message, fields ? { fields } : {});
  }
}

/**
 * The compile's and the tests' wall-clock limits add up to more than the execution may last
 * (KATA_EXEC_TIMEOUT_MS_MAX, or the request's own timeoutMs): some run would be cut by the
 * sandbox's deadline instead of its own limit, so nothing is started.
 */
export class TimeBudgetExceededError extends KataExecError {
  constructor(message: string, fields: FieldError[]) {
    super(ErrorCode.TimeBudgetExceeded, message, { fields });
  }
}

// Never sent to a client

export type CtrFailure = 'daemon_unavailable' | 'runtime_not_installed' | 'vm_agent_unreachable' | 'not_found' | 'already_exists' | 'other';

/** A ctr command failed; `kind` classifies its stderr (src/ctr/parse.ts). */
export class CtrError extends Error {
  constructor(
    readonly kind: CtrFailure,
    readonly argv: readonly string[],
    readonly stderr: string,
    /** ctr's own error line, when its stderr has one. */
    line: string | null = null,
  ) {
    super(`ctr ${argv.filter((a, i) => i > 5 || !a.startsWith('-')).slice(0, 4).join(' ')} failed (${kind}): ${line ?? stderr.trim().slice(0, 300)}`);
    this.name = 'CtrError';
  }
}

/** The configuration is invalid: every problem, each saying what to set. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** A ctr failure outside the sandbox's own run, as the error the API reports. */
export function asServiceError(err: unknown): unknown {
  if (err instanceof CtrError) {
    if (err.kind === 'daemon_unavailable') return new DaemonUnavailableError(undefined, { cause: err });
    return new VmCreationFailedError('preparing the sandbox failed', { cause: err });
  }
  return err;
}

export function isKataExecError(err: unknown): err is KataExecError {
  return err instanceof KataExecError;
}

