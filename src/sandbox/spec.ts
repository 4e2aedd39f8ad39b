/**
 * Validate() of the reference package's ResourceSpec, SecuritySpec and SandboxSpec.
 * Pure: each returns nothing or throws InvalidSpecError / SecurityViolationError with
 * every field at fault.
 */
import { InvalidSpecError, SecurityViolationError, type FieldError } from '../errors.js';
import { mibToBytes, MIN_MEMORY_MB } from '../units.js';
import type { ResourceSpec, SandboxSpec, SandboxStep, SecuritySpec } from './types.js';

/** Steps in one sandbox, at most (the launcher's own bound too: launcher/kx-launch.c MAX_STEPS). */
export const MAX_STEPS = 256;
/** A step's stdin, at most (the launcher's request as a whole is bounded at 512 MiB). */
export const MAX_STEP_STDIN_BYTES = 64 << 20;

const RESOURCE_FIELDS = ['memoryBytes', 'cpuMillis', 'pids', 'tmpfsBytes', 'openFiles', 'outputBytes'] as const;

export function resourceSpecErrors(r: ResourceSpec): FieldError[] {
  const errs: FieldError[] = [];
  for (const f of RESOURCE_FIELDS) {
    const v = r[f];
    if (!Number.isFinite(v) || v < 0) errs.push({ path: `/resources/${f}`, message: 'must be a finite number, zero or more' });
    else if (!Number.isInteger(v)) errs.push({ path: `/resources/${f}`, message: 'must be a whole number' });
  }
  if (r.memoryBytes > 0 && r.memoryBytes < mibToBytes(MIN_MEMORY_MB)) {
    errs.push({ path: '/resources/memoryBytes', message: `must be at least ${MIN_MEMORY_MB} MiB` });
  }
  return errs;
}

export function validateResourceSpec(r: ResourceSpec): void {
  const errs = resourceSpecErrors(r);
  if (errs.length) throw new InvalidSpecError(`invalid resources: ${errs.map((e) => `${e.path} ${e.message}`).join('; ')}`, errs);
}

const USER_RE = /^\d{1,10}:\d{1,10}$/;

/** Policy violations are SecurityViolationError; malformed values are InvalidSpecError. */
export function validateSecuritySpec(s: SecuritySpec): void {
  const violations: FieldError[] = [];
  if (s.privileged) violations.push({ path: '/security/privileged', message: 'privileged sandboxes are never allowed' });
  if (s.networkMode === 'host') violations.push({ path: '/security/networkMode', message: 'the host network is never allowed' });
  if (violations.length) {
    throw new SecurityViolationError(`security policy violation: ${violations.map((v) => v.message).join('; ')}`, violations);
  }
  const errs: FieldError[] = [];
  if (!USER_RE.test(s.user)) errs.push({ path: '/security/user', message: 'must be "uid:gid" in numbers' });
  if (!['none'].includes(s.networkMode)) errs.push({ path: '/security/networkMode', message: 'must be "none"' });
  if (!['default', 'strict', 'unconfined'].includes(s.seccompProfile)) {
    errs.push({ path: '/security/seccompProfile', message: 'must be default, strict or unconfined' });
  }
  if (errs.length) throw new InvalidSpecError(`invalid security settings: ${errs.map((e) => `${e.path} ${e.message}`).join('; ')}`, errs);
}

const ID_RE = /^[a-z0-9][a-z0-9-]{7,63}$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*=/;
const LABEL_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$/;

export function validateSandboxSpec(spec: SandboxSpec): void {
  validateSecuritySpec(spec.security);
  const errs = resourceSpecErrors(spec.resources);
  if (!ID_RE.test(spec.id)) errs.push({ path: '/id', message: 'must be 8 to 64 lowercase letters, digits or dashes' });
  if (!spec.image) errs.push({ path: '/image', message: 'is required' });
  // With steps the launcher runs those instead of the command, which may then be empty.
  if ((spec.steps === undefined && spec.command.length === 0) || spec.command.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    errs.push({ path: '/command', message: 'must be a non-empty list of strings without NUL' });
  }
  if (spec.steps !== undefined) errs.push(...stepErrors(spec.steps));
  if (!spec.workingDir.startsWith('/')) errs.push({ path: '/workingDir', message: 'must be absolute' });
  for (const key of ['env', 'programEnv'] as const) {
    spec[key].forEach((e, i) => {
      if (!ENV_RE.test(e) || e.includes('\0')) errs.push({ path: `/${key}/${i}`, message: 'must be NAME=value' });
    });
  }
  if (!Number.isInteger(spec.timeoutMs) || spec.timeoutMs <= 0) errs.push({ path: '/timeoutMs', message: 'must be a positive whole number' });
  for (const key of Object.keys(spec.labels)) {
    if (!LABEL_KEY_RE.test(key)) errs.push({ path: `/labels/${key}`, message: 'is not a valid label key' });
  }
  if (spec.files.length > 64) errs.push({ path: '/files', message: 'at most 64 files' });
  spec.files.forEach((f, i) => {
    if (f.path.startsWith('/') || f.path.split('/').some((p) => p === '..' || p === '.' || p === '') || f.path.includes('\0')) {
      errs.push({ path: `/files/${i}/path`, message: 'must be a relative path without "." or ".." parts' });
    }
  });
  if (spec.runtime === 'kata' && !spec.hypervisor) errs.push({ path: '/hypervisor', message: 'is required for kata' });
  if (errs.length) throw new InvalidSpecError(`invalid sandbox spec: ${errs.map((e) => `${e.path} ${e.message}`).join('; ')}`, errs);
}

const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** Every fault of a spec's steps, with its path (/steps/<i>/<field>). */
export function stepErrors(steps: SandboxStep[]): FieldError[] {
  const errs: FieldError[] = [];
  if (!Array.isArray(steps) || steps.length === 0 || steps.length > MAX_STEPS) {
    return [{ path: '/steps', message: `must hold 1 to ${MAX_STEPS} steps` }];
  }
  steps.forEach((s, i) => {
    const at = (f: string, message: string) => errs.push({ path: `/steps/${i}/${f}`, message });
    if (!Array.isArray(s.command) || s.command.length === 0 || s.command.some((a) => typeof a !== 'string' || a.includes('\0'))) {
      at('command', 'must be a non-empty list of strings without NUL');
    }
    (s.env ?? []).forEach((e, j) => {
      if (typeof e !== 'string' || !ENV_RE.test(e) || e.includes('\0')) errs.push({ path: `/steps/${i}/env/${j}`, message: 'must be NAME=value' });
    });
    if (s.stdin !== null && !Buffer.isBuffer(s.stdin)) at('stdin', 'must be bytes or null');
    else if (s.stdin && s.stdin.length > MAX_STEP_STDIN_BYTES) at('stdin', `must be at most ${MAX_STEP_STDIN_BYTES} bytes`);
    if (!isPositiveInt(s.wallMs)) at('wallMs', 'must be a positive whole number');
    if (s.cpuMs !== null && !isPositiveInt(s.cpuMs)) at('cpuMs', 'must be a positive whole number or null');
    if (s.memoryKb !== null && !isPositiveInt(s.memoryKb)) at('memoryKb', 'must be a positive whole number or null');
    if (!isPositiveInt(s.outputBytes)) at('outputBytes', 'must be a positive whole number');
    if (typeof s.required !== 'boolean') at('required', 'must be true or false');
  });
  return errs;
}
