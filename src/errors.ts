/**
 * Domain errors. Each carries a stable `code`; the HTTP layer maps codes to statuses in
 * one table (src/http/error-map.ts). Messages are written for the API user: they never
 * hold a host path, an argv or a stack. Operator detail goes in `cause`, which is logged
 * and never sent.
 *
 * The first six mirror the reference Go package's errors (kata-backend-api.txt).
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
  LimitExceeded: 'LIMIT_EXCEEDED',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  ImageNotFound: 'IMAGE_NOT_FOUND',
  RuntimeNotInstalled: 'RUNTIME_NOT_INSTALLED',
  QueueFull: 'QUEUE_FULL',
  ShuttingDown: 'SHUTTING_DOWN',
  ProfileNotSupported: 'PROFILE_NOT_SUPPORTED',
  NotFound: 'NOT_FOUND',
  ClientClosed: 'CLIENT_CLOSED',
  Unauthorized: 'UNAUTHORIZED',
  RateLimited: 'RATE_LIMITED',
  QuotaExceeded: 'QUOTA_EXCEEDED',
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

/** ErrVMExecutionFailed: the sandbox started but the service lost track of it. */
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

export function isKataExecError(err: unknown): err is KataExecError {
  return err instanceof KataExecError;
}
