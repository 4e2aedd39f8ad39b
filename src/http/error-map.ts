/**
 * The one table from error code to HTTP status. A program that fails is never here: it is
 * a 200 with its exit code. Only the service's own failures are 4xx/5xx.
 */
import { ErrorCode } from '../errors.js';

export type AnyErrorCode = ErrorCode;

export const STATUS_BY_CODE: Record<AnyErrorCode, number> = {
  VALIDATION_FAILED: 400,
  INVALID_SPEC: 400,
  UNKNOWN_LANGUAGE: 400,
  LANGUAGE_NOT_AVAILABLE: 422,
  LIMIT_EXCEEDED: 400,
  UNAUTHORIZED: 401,
  HOST_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  CLIENT_CLOSED: 499,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  SECURITY_VIOLATION: 422,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  PROFILE_NOT_SUPPORTED: 422,
  INTERNAL: 500,
  RUNNER_NOT_CONFIGURED: 500,
  VM_CREATION_FAILED: 502,
  VM_EXECUTION_FAILED: 502,
  KATA_NOT_AVAILABLE: 503,
  DAEMON_UNAVAILABLE: 503,
  IMAGE_NOT_FOUND: 503,
  IMAGE_INCOMPATIBLE: 503,
  RUNTIME_NOT_INSTALLED: 503,
  QUEUE_FULL: 503,
  MEMORY_BUDGET_FULL: 503,
  SHUTTING_DOWN: 503,
  SESSION_NOT_FOUND: 404,
  SESSION_LIMIT: 429,
  SESSION_BUSY: 409,
  SESSION_GONE: 410,
  FILE_NOT_FOUND: 404,
  PATH_NOT_ALLOWED: 400,
  NOT_A_FILE: 409,
  FILE_TOO_LARGE: 413,
  DISK_FULL: 507,
  NOT_SUPPORTED: 422,
  TIME_BUDGET_EXCEEDED: 422,
};

/** What each code means, for the README and the OpenAPI document. */
export const CODE_MEANING: Record<AnyErrorCode, string> = {
  VALIDATION_FAILED: 'The body does not match the schema; `errors` lists the fields.',
  INVALID_SPEC: 'A value is out of range for a sandbox (e.g. negative).',
  UNKNOWN_LANGUAGE: 'The language is not one this service runs; `known` lists them.',
  LANGUAGE_NOT_AVAILABLE: 'The service knows the language but its sandbox image does not hold it (e.g. `c` on the default image); the message names the image that does (GET /v1/runtimes: `available`).',
  LIMIT_EXCEEDED: 'A limit is above the server maximum; `errors` names the field and the maximum.',
  UNAUTHORIZED: 'No valid API key: send `Authorization: Bearer <key>`.',
  HOST_NOT_ALLOWED: 'Authentication is off and the Host header names no allowed host (a defence against DNS rebinding): call it as localhost, or add the name to KATA_EXEC_ALLOWED_HOSTS.',
  RATE_LIMITED: 'This key (or address) sent more requests than KATA_EXEC_RATE_LIMIT_PER_MINUTE allows, or failed authentication more than KATA_EXEC_AUTH_FAILURES_PER_MINUTE times. Retry after Retry-After.',
  QUOTA_EXCEEDED: 'This key already has KATA_EXEC_KEY_CONCURRENCY executions queued, running or with an answer not yet sent. Retry after Retry-After.',
  NOT_FOUND: 'No such route.',
  CLIENT_CLOSED: 'The client closed the connection before the answer (nginx\'s 499); logged, never seen by that client.',
  PAYLOAD_TOO_LARGE: 'The body is larger than KATA_EXEC_BODY_LIMIT_BYTES. No sandbox was created.',
  UNSUPPORTED_MEDIA_TYPE: 'The body is not application/json.',
  SECURITY_VIOLATION: 'The request asks for something the security policy forbids.',
  PROFILE_NOT_SUPPORTED: 'The profile needs a stronger runtime than this host runs (hardened or dev on runc).',
  INTERNAL: 'A bug in the service; the log has the detail under the request id.',
  RUNNER_NOT_CONFIGURED: 'The service was started without a sandbox runner.',
  VM_CREATION_FAILED: 'The sandbox could not be created or started.',
  VM_EXECUTION_FAILED: 'The program could not be started in a pooled sandbox that was already running (a fresh sandbox that fails answers VM_CREATION_FAILED).',
  KATA_NOT_AVAILABLE: 'Kata Containers is not installed where containerd looks for it.',
  DAEMON_UNAVAILABLE: 'containerd does not answer. Retry after Retry-After.',
  IMAGE_NOT_FOUND: 'The sandbox image is not in containerd; the message names the command to run.',
  IMAGE_INCOMPATIBLE: "The sandbox image holds no launcher of this service's protocol (/usr/local/lib/kata-exec/kx-launch): an image built by hand or by another version. The message names the command to run.",
  RUNTIME_NOT_INSTALLED: 'The configured sandbox runtime is not installed.',
  MEMORY_BUDGET_FULL: 'The executions in flight and the answers not yet taken by their clients already hold KATA_EXEC_MEMORY_BUDGET_MB at their worst case. Retry after Retry-After, or ask for a smaller limits.outputBytes.',
  QUEUE_FULL: 'Every slot is busy and the queue is full. Retry after Retry-After.',
  SHUTTING_DOWN: 'The service is draining. Retry after Retry-After, on another instance if you have one.',
  SESSION_NOT_FOUND: 'No session of this id for this key: it was deleted, it expired, or it belongs to another key.',
  SESSION_LIMIT: 'This key already has KATA_EXEC_SESSIONS_PER_KEY sessions, or the service KATA_EXEC_SESSIONS_MAX (0: sessions are off). Delete one, or retry after Retry-After (when the soonest of them expires).',
  SESSION_BUSY: 'Calls into one session run one at a time; too many already wait for this one. Retry after Retry-After.',
  SESSION_GONE: "The session's sandbox died or was killed (e.g. its launcher did not end a call in time); the session was deleted. Create a new one.",
  FILE_NOT_FOUND: "No such file or directory in the session's workspace.",
  PATH_NOT_ALLOWED: 'The path breaks the path rules (relative, letters, digits, ".", "_", "-", "/"; no "..") or its way goes through a symbolic link, which is never followed.',
  NOT_A_FILE: 'The path is not a regular file where one is needed (e.g. an upload onto a directory, a download of a device), or not a directory where one is needed.',
  FILE_TOO_LARGE: 'The file or archive is larger than KATA_EXEC_SESSION_FILE_MAX_BYTES.',
  DISK_FULL: "The session's workspace (/code, limits.diskMb) is full.",
  NOT_SUPPORTED: 'The request combines things this service does not do together (e.g. a compile in a session started by an older launcher), or, on /judge0, asks for what is not done here (asynchronous submissions, callbacks, additional files...); the message says which and `errors` names the fields.',
  TIME_BUDGET_EXCEEDED: "The compile's and the tests' wall-clock limits add up to more than KATA_EXEC_TIMEOUT_MS_MAX (or the request's timeoutMs): lower tests[].timeoutMs or compile.timeoutMs, or send fewer tests. `errors` gives the figures.",
};

export function statusOfCode(code: string): number {
  return (STATUS_BY_CODE as Record<string, number>)[code] ?? 500;
}
