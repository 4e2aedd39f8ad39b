import { describe, expect, it } from 'vitest';
import { InvalidSpecError, SecurityViolationError, type KataExecError } from '../../src/errors.js';
import { MAX_STEPS, validateResourceSpec, validateSandboxSpec, validateSecuritySpec } from '../../src/sandbox/spec.js';
import type { SandboxSpec, SandboxStep } from '../../src/sandbox/types.js';
import { MIN_MEMORY_MB } from '../../src/units.js';

const MiB = 1024 * 1024;

function valid(): SandboxSpec {
  return {
    id: 'kx-0123456789abcdef',
    image: 'toolruntime-sandbox:latest',
    runtime: 'kata',
    hypervisor: 'qemu',
    kernelPath: '',
    imagePath: '',
    command: ['python3', '/code/main.py'],
    workingDir: '/code',
    env: ['PATH=/usr/bin:/bin', 'EMPTY='],
    programEnv: ['LD_PRELOAD=/tmp/x.so'],
    files: [
      { path: 'main.py', content: Buffer.from('print(1)') },
      { path: 'lib/util.py', content: Buffer.from('') },
    ],
    stdin: null,
    resources: { memoryBytes: 256 * MiB, cpuMillis: 1000, pids: 128, tmpfsBytes: 64 * MiB, openFiles: 256, outputBytes: 1 * MiB },
    security: { user: '65534:65534', readOnlyRootfs: true, networkMode: 'none', seccompProfile: 'default', privileged: false },
    timeoutMs: 10_000,
    labels: { 'org.kata-exec.managed': 'true' },
  };
}

function err(f: () => void): KataExecError {
  try {
    f();
  } catch (e) {
    return e as KataExecError;
  }
  throw new Error('expected a throw');
}

const paths = (e: KataExecError) => (e.fields ?? []).map((f) => f.path);

describe('validateSandboxSpec', () => {
  it('accepts a valid spec', () => {
    expect(() => validateSandboxSpec(valid())).not.toThrow();
  });

  it('accepts zero resources (not set)', () => {
    const s = valid();
    s.resources = { memoryBytes: 0, cpuMillis: 0, pids: 0, tmpfsBytes: 0, openFiles: 0, outputBytes: 0 };
    expect(() => validateSandboxSpec(s)).not.toThrow();
  });

  it('privileged: SecurityViolationError', () => {
    const s = valid();
    s.security.privileged = true;
    const e = err(() => validateSandboxSpec(s));
    expect(e).toBeInstanceOf(SecurityViolationError);
    expect(e.code).toBe('SECURITY_VIOLATION');
    expect(paths(e)).toEqual(['/security/privileged']);
  });

  it('host network: SecurityViolationError', () => {
    const s = valid();
    s.security.networkMode = 'host';
    const e = err(() => validateSandboxSpec(s));
    expect(e).toBeInstanceOf(SecurityViolationError);
    expect(paths(e)).toEqual(['/security/networkMode']);
  });

  it('both violations are reported together', () => {
    const s = valid();
    s.security.privileged = true;
    s.security.networkMode = 'host';
    expect(paths(err(() => validateSandboxSpec(s)))).toEqual(['/security/privileged', '/security/networkMode']);
  });

  it.each([
    ['memoryBytes', -1],
    ['cpuMillis', 1.5],
    ['pids', -10],
    ['tmpfsBytes', Number.NaN],
    ['openFiles', Number.POSITIVE_INFINITY],
    ['outputBytes', 0.1],
  ] as const)('resources.%s = %s: InvalidSpecError naming the field', (field, v) => {
    const s = valid();
    s.resources[field] = v;
    const e = err(() => validateSandboxSpec(s));
    expect(e).toBeInstanceOf(InvalidSpecError);
    expect(e.code).toBe('INVALID_SPEC');
    expect(paths(e)).toContain(`/resources/${field}`);
  });

  it('memory below the one minimum (MIN_MEMORY_MB, the schema\'s too) is refused; the minimum itself passes', () => {
    const s = valid();
    s.resources.memoryBytes = MIN_MEMORY_MB * MiB - 1;
    expect(paths(err(() => validateSandboxSpec(s)))).toEqual(['/resources/memoryBytes']);
    s.resources.memoryBytes = MIN_MEMORY_MB * MiB;
    expect(() => validateSandboxSpec(s)).not.toThrow();
  });

  it.each(['short', 'Kx-0123456789', '-x01234567', 'kx_0123456789', 'a'.repeat(65), 'kx-01234567;rm'])('bad id %j', (id) => {
    const s = valid();
    s.id = id;
    expect(paths(err(() => validateSandboxSpec(s)))).toEqual(['/id']);
  });

  it('empty command', () => {
    const s = valid();
    s.command = [];
    expect(paths(err(() => validateSandboxSpec(s)))).toEqual(['/command']);
  });

  it('command with NUL', () => {
    const s = valid();
    s.command = ['python3', 'a\0b'];
    expect(paths(err(() => validateSandboxSpec(s)))).toEqual(['/command']);
  });

  it('relative working directory', () => {
    const s = valid();
    s.workingDir = 'code';
    expect(paths(err(() => validateSandboxSpec(s)))).toEqual(['/workingDir']);
  });

  it.each(['NOEQUALS', '=value', '1X=a', 'A B=c', 'X=a\0b'])('bad env entry %j', (entry) => {
    const s = valid();
    s.env = ['OK=1', entry];
    expect(paths(err(() => validateSandboxSpec(s)))).toEqual(['/env/1']);
    const p = valid();
    p.programEnv = [entry];
    expect(paths(err(() => validateSandboxSpec(p)))).toEqual(['/programEnv/0']);
  });

  it.each(['../etc/passwd', 'a/../../b', '/etc/passwd', '', 'a//b', './main.py', 'dir/', 'a\0b'])('bad file path %j', (p) => {
    const s = valid();
    s.files = [{ path: 'main.py', content: Buffer.alloc(0) }, { path: p, content: Buffer.alloc(0) }];
    expect(paths(err(() => validateSandboxSpec(s)))).toEqual(['/files/1/path']);
  });

  it('kata without a hypervisor', () => {
    const s = valid();
    s.hypervisor = null;
    expect(paths(err(() => validateSandboxSpec(s)))).toEqual(['/hypervisor']);
  });

  it('gvisor and runc need no hypervisor', () => {
    for (const runtime of ['gvisor', 'runc'] as const) {
      const s = valid();
      s.runtime = runtime;
      s.hypervisor = null;
      expect(() => validateSandboxSpec(s)).not.toThrow();
    }
  });

  it('non-positive or fractional timeout', () => {
    for (const t of [0, -1, 1.5]) {
      const s = valid();
      s.timeoutMs = t;
      expect(paths(err(() => validateSandboxSpec(s)))).toEqual(['/timeoutMs']);
    }
  });

  it('bad label key and empty image', () => {
    const s = valid();
    s.labels = { 'bad key': 'x' };
    s.image = '';
    expect(paths(err(() => validateSandboxSpec(s))).sort()).toEqual(['/image', '/labels/bad key']);
  });

  it('every field at fault is listed at once', () => {
    const s = valid();
    s.id = 'X';
    s.command = [];
    s.resources.pids = -1;
    expect(paths(err(() => validateSandboxSpec(s))).sort()).toEqual(['/command', '/id', '/resources/pids']);
  });
});

describe('validateSecuritySpec', () => {
  const sec = valid().security;

  it('bad user format is InvalidSpecError, not a violation', () => {
    const e = err(() => validateSecuritySpec({ ...sec, user: 'nobody' }));
    expect(e).toBeInstanceOf(InvalidSpecError);
    expect(paths(e)).toEqual(['/security/user']);
  });

  it('unknown seccomp profile', () => {
    const e = err(() => validateSecuritySpec({ ...sec, seccompProfile: 'none' as 'default' }));
    expect(paths(e)).toEqual(['/security/seccompProfile']);
  });

  it('accepts every known seccomp profile', () => {
    for (const p of ['default', 'strict', 'unconfined'] as const) expect(() => validateSecuritySpec({ ...sec, seccompProfile: p })).not.toThrow();
  });
});

describe('validateResourceSpec', () => {
  it('throws InvalidSpecError with the field and passes a valid one', () => {
    const r = valid().resources;
    expect(() => validateResourceSpec(r)).not.toThrow();
    const e = err(() => validateResourceSpec({ ...r, openFiles: -3 }));
    expect(e).toBeInstanceOf(InvalidSpecError);
    expect(e.fields).toEqual([{ path: '/resources/openFiles', message: expect.any(String) }]);
  });
});

describe('validateSandboxSpec: steps', () => {
  const step = (over: Partial<SandboxStep> = {}): SandboxStep => ({
    command: ['./main'],
    stdin: Buffer.from('1 2\n'),
    wallMs: 2000,
    cpuMs: 1000,
    memoryKb: 65536,
    outputBytes: 4096,
    required: false,
    ...over,
  });

  it('accepts steps, and an empty command beside them (the steps run instead)', () => {
    expect(() => validateSandboxSpec({ ...valid(), command: [], steps: [step({ required: true, cpuMs: null, memoryKb: null, env: ['GOCACHE=/tmp/go'] }), step()] })).not.toThrow();
  });

  it('still requires a command without steps', () => {
    expect(paths(err(() => validateSandboxSpec({ ...valid(), command: [] })))).toEqual(['/command']);
  });

  it('names every field at fault, per step', () => {
    const bad = [
      step({ command: [] }),
      step({ env: ['no-equals'], stdin: 'text' as unknown as Buffer }),
      step({ wallMs: 0, cpuMs: 1.5, memoryKb: -1, outputBytes: 0, required: 'yes' as unknown as boolean }),
    ];
    const e = err(() => validateSandboxSpec({ ...valid(), steps: bad }));
    expect(e).toBeInstanceOf(InvalidSpecError);
    expect(paths(e)).toEqual([
      '/steps/0/command',
      '/steps/1/env/0',
      '/steps/1/stdin',
      '/steps/2/wallMs',
      '/steps/2/cpuMs',
      '/steps/2/memoryKb',
      '/steps/2/outputBytes',
      '/steps/2/required',
    ]);
  });

  it(`holds 1 to ${MAX_STEPS} steps`, () => {
    expect(paths(err(() => validateSandboxSpec({ ...valid(), steps: [] })))).toEqual(['/steps']);
    expect(paths(err(() => validateSandboxSpec({ ...valid(), steps: Array.from({ length: MAX_STEPS + 1 }, () => step()) })))).toEqual(['/steps']);
    expect(() => validateSandboxSpec({ ...valid(), steps: Array.from({ length: MAX_STEPS }, () => step()) })).not.toThrow();
  });
});
