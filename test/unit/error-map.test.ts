import { describe, expect, it } from 'vitest';
import {
  DaemonUnavailableError,
  ErrorCode,
  KataNotAvailableError,
  RunnerNotConfiguredError,
  SecurityViolationError,
  VmCreationFailedError,
  VmExecutionFailedError,
  type KataExecError,
} from '../../src/errors.js';
import { CODE_MEANING, STATUS_BY_CODE, statusOfCode } from '../../src/http/error-map.js';

describe('error map', () => {
  const codes = Object.values(ErrorCode);

  it('every error code has a status and a meaning', () => {
    for (const code of codes) {
      expect(STATUS_BY_CODE, code).toHaveProperty(code);
      expect(CODE_MEANING[code], code).toMatch(/\S/);
    }
  });

  it('the tables name no code that does not exist', () => {
    expect(Object.keys(STATUS_BY_CODE).sort()).toEqual([...codes].sort());
    expect(Object.keys(CODE_MEANING).sort()).toEqual([...codes].sort());
  });

  it('every status is a 4xx or 5xx', () => {
    for (const s of Object.values(STATUS_BY_CODE)) {
      expect(s).toBeGreaterThanOrEqual(400);
      expect(s).toBeLessThan(600);
    }
  });

  it.each<[string, KataExecError, number]>([
    ['KATA_NOT_AVAILABLE', new KataNotAvailableError(), 503],
    ['VM_CREATION_FAILED', new VmCreationFailedError(), 502],
    ['VM_EXECUTION_FAILED', new VmExecutionFailedError(), 502],
    ['RUNNER_NOT_CONFIGURED', new RunnerNotConfiguredError(), 500],
    ['DAEMON_UNAVAILABLE', new DaemonUnavailableError(), 503],
    ['SECURITY_VIOLATION', new SecurityViolationError('no'), 422],
  ])('%s -> %d', (code, error, status) => {
    expect(error.code).toBe(code);
    expect(statusOfCode(error.code)).toBe(status);
  });

  it('client mistakes are 4xx', () => {
    for (const c of ['VALIDATION_FAILED', 'INVALID_SPEC', 'UNKNOWN_LANGUAGE', 'LIMIT_EXCEEDED']) expect(statusOfCode(c)).toBe(400);
    expect(statusOfCode('PAYLOAD_TOO_LARGE')).toBe(413);
    expect(statusOfCode('PROFILE_NOT_SUPPORTED')).toBe(422);
  });

  it('retryable capacity errors are 503', () => {
    for (const c of ['QUEUE_FULL', 'SHUTTING_DOWN', 'RUNTIME_NOT_INSTALLED', 'IMAGE_NOT_FOUND']) expect(statusOfCode(c)).toBe(503);
  });

  it('an unknown code is 500', () => {
    expect(statusOfCode('NO_SUCH_CODE')).toBe(500);
  });

  it('DaemonUnavailableError carries a Retry-After', () => {
    expect(new DaemonUnavailableError().retryAfterSeconds).toBeGreaterThan(0);
  });

  it('errors keep their cause and class name', () => {
    const e = new VmCreationFailedError('x', { cause: 'ctr: boom' });
    expect(e.cause).toBe('ctr: boom');
    expect(e.name).toBe('VmCreationFailedError');
    expect(e.message).toBe('x');
  });
});
