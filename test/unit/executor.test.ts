import { describe, expect, it } from 'vitest';
import type { RuntimeTarget } from '../../src/ctr/argv.js';
import { loadConfig } from '../../src/config.js';
import { ErrorCode, type KataExecError, LimitExceededError, ProfileNotSupportedError, UnknownLanguageError } from '../../src/errors.js';
import {
  Executor,
  LABEL_EXECUTION,
  LABEL_INSTANCE,
  LABEL_MANAGED,
  newExecutionId,
  statusOf,
} from '../../src/execution/executor.js';
import { poolKey } from '../../src/sandbox/pool.js';
import { validateSandboxSpec } from '../../src/sandbox/spec.js';
import type { CapturedStream, SandboxResult } from '../../src/sandbox/types.js';
import type { ExecuteRequest } from '../../src/schemas/execute.js';

const cfg = loadConfig({});
const MiB = 1024 * 1024;

const KATA: RuntimeTarget = {
  kind: 'kata',
  ociRuntime: 'io.containerd.kata-qemu.v2',
  runcBinary: null,
  runtimeConfigPath: null,
  snapshotter: null,
  hypervisor: 'qemu',
  launch: 'config',
};
const RUNC: RuntimeTarget = { ...KATA, kind: 'runc', ociRuntime: 'io.containerd.runc.v2', hypervisor: null };
const GVISOR: RuntimeTarget = { ...RUNC, kind: 'gvisor', runcBinary: '/w' };
const FC: RuntimeTarget = { ...KATA, ociRuntime: 'io.containerd.kata-fc.v2', hypervisor: 'firecracker', snapshotter: 'devmapper', launch: 'image' };

const executor = (runtime: RuntimeTarget = KATA) => new Executor({ config: cfg, runtime, runner: null, instanceId: 'inst-1' });
const req = (over: Partial<ExecuteRequest> = {}): ExecuteRequest => ({ language: 'python', code: 'print(1)', ...over });

function err(f: () => unknown): KataExecError {
  try {
    f();
  } catch (e) {
    return e as KataExecError;
  }
  throw new Error('expected a throw');
}

describe('Executor.prepare: languages', () => {
  it('unknown language: UnknownLanguageError listing the known ones', () => {
    const e = err(() => executor().prepare(req({ language: 'cobol' })));
    expect(e).toBeInstanceOf(UnknownLanguageError);
    expect(e.code).toBe(ErrorCode.UnknownLanguage);
    expect((e as UnknownLanguageError).known).toEqual(['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
    expect(e.message).toContain('python, javascript, bash, c, cpp');
    expect(e.fields?.[0]?.path).toBe('/language');
  });

  it.each([
    ['python', 'python', 'main.py', ['python3', '/code/main.py']],
    ['py', 'python', 'main.py', ['python3', '/code/main.py']],
    ['PY', 'python', 'main.py', ['python3', '/code/main.py']],
    ['javascript', 'javascript', 'main.js', ['node', '/code/main.js']],
    ['js', 'javascript', 'main.js', ['node', '/code/main.js']],
    ['node', 'javascript', 'main.js', ['node', '/code/main.js']],
    ['bash', 'bash', 'main.sh', ['bash', '/code/main.sh']],
    ['sh', 'bash', 'main.sh', ['bash', '/code/main.sh']],
  ])('%s resolves to %s, file %s under /code', (asked, name, file, command) => {
    const p = executor().prepare(req({ language: asked, code: 'x = "é"' }));
    expect(p.language).toBe(name);
    expect(p.spec.files).toEqual([{ path: file, content: Buffer.from('x = "é"', 'utf8') }]);
    expect(p.spec.command).toEqual(command);
    expect(p.spec.workingDir).toBe('/code');
  });
});

describe('Executor.prepare: limits', () => {
  it('defaults from the config when omitted (standard profile)', () => {
    const p = executor().prepare(req());
    const b = cfg.limits;
    expect(p.profile).toBe('standard');
    expect(p.limits).toEqual({
      timeoutMs: b.timeoutMs.default,
      memoryMb: b.memoryMb.default,
      cpus: b.cpus.default,
      pids: b.pids.default,
      diskMb: b.diskMb.default,
      outputBytes: b.outputBytes.default,
      openFiles: b.openFiles.default,
    });
    expect(p.spec.resources).toEqual({
      memoryBytes: b.memoryMb.default * MiB,
      cpuMillis: Math.round(b.cpus.default * 1000),
      pids: b.pids.default,
      tmpfsBytes: b.diskMb.default * MiB,
      openFiles: b.openFiles.default,
      outputBytes: b.outputBytes.default,
    });
    expect(p.spec.timeoutMs).toBe(b.timeoutMs.default);
    // The service's own deadline: a start made again gets it whole.
    expect(p.spec.retryTimeout).toBe('whole');
  });

  it('asked limits within the maxima are used', () => {
    const p = executor().prepare(req({ timeoutMs: 5000, limits: { memoryMb: 512, pids: 10, diskMb: 8, outputBytes: 2048, openFiles: 64, cpus: 0.25 } }));
    expect(p.limits).toEqual({ timeoutMs: 5000, memoryMb: 512, pids: 10, diskMb: 8, outputBytes: 2048, openFiles: 64, cpus: 0.25 });
    expect(p.spec.resources.cpuMillis).toBe(250);
    expect(p.spec.resources.memoryBytes).toBe(512 * MiB);
    // The caller's deadline counts from the request: a start made again gets what is left.
    expect(p.spec.retryTimeout).toBe('left');
  });

  it('a limit above the server maximum: LimitExceededError naming the path and the maximum', () => {
    const e = err(() => executor().prepare(req({ limits: { memoryMb: cfg.limits.memoryMb.max + 1 } })));
    expect(e).toBeInstanceOf(LimitExceededError);
    expect(e.code).toBe(ErrorCode.LimitExceeded);
    expect(e.fields).toEqual([{ path: '/limits/memoryMb', message: expect.stringContaining(String(cfg.limits.memoryMb.max)) }]);
    expect(e.message).toContain('/limits/memoryMb');
    expect(e.message).toContain(String(cfg.limits.memoryMb.max));
  });

  it('every limit above its maximum is listed', () => {
    const b = cfg.limits;
    const e = err(() =>
      executor().prepare(
        req({
          timeoutMs: b.timeoutMs.max + 1,
          limits: {
            memoryMb: b.memoryMb.max + 1,
            cpus: b.cpus.max + 1,
            pids: b.pids.max + 1,
            diskMb: b.diskMb.max + 1,
            outputBytes: b.outputBytes.max + 1,
            openFiles: b.openFiles.max + 1,
          },
        }),
      ),
    );
    expect((e.fields ?? []).map((f) => f.path).sort()).toEqual(
      ['/limits/cpus', '/limits/diskMb', '/limits/memoryMb', '/limits/openFiles', '/limits/outputBytes', '/limits/pids', '/timeoutMs'].sort(),
    );
  });

  it('exactly the maximum is allowed', () => {
    expect(executor().prepare(req({ limits: { memoryMb: cfg.limits.memoryMb.max } })).limits.memoryMb).toBe(cfg.limits.memoryMb.max);
  });

  it('hardened: tighter defaults, still capped by the server maximum', () => {
    const p = executor().prepare(req({ profile: 'hardened' }));
    expect(p.limits).toMatchObject({ memoryMb: 128, pids: 64, diskMb: 16, openFiles: 128, cpus: Math.min(0.5, cfg.limits.cpus.max) });
    const small = loadConfig({ KATA_EXEC_PIDS_MAX: '32', KATA_EXEC_PIDS_DEFAULT: '16' });
    const q = new Executor({ config: small, runtime: KATA, runner: null, instanceId: 'i' }).prepare(req({ profile: 'hardened' }));
    expect(q.limits.pids).toBe(32);
  });

  it('hardened: asked limits still win over profile defaults', () => {
    expect(executor().prepare(req({ profile: 'hardened', limits: { memoryMb: 1024 } })).limits.memoryMb).toBe(1024);
  });
});

describe('Executor.prepare: profiles', () => {
  it('hardened on runc: ProfileNotSupportedError', () => {
    const e = err(() => executor(RUNC).prepare(req({ profile: 'hardened' })));
    expect(e).toBeInstanceOf(ProfileNotSupportedError);
    expect(e.code).toBe('PROFILE_NOT_SUPPORTED');
  });

  it('hardened on gvisor and kata is allowed', () => {
    expect(executor(GVISOR).prepare(req({ profile: 'hardened' })).spec.security.seccompProfile).toBe('strict');
    expect(executor(KATA).prepare(req({ profile: 'hardened' })).spec.security.seccompProfile).toBe('strict');
  });

  it('dev on runc: ProfileNotSupportedError (root there is the host\'s root)', () => {
    const e = err(() => executor(RUNC).prepare(req({ profile: 'dev' })));
    expect(e).toBeInstanceOf(ProfileNotSupportedError);
    expect(e.message).toContain("host's root");
  });

  it('dev: writable root as root, no network', () => {
    const s = executor(GVISOR).prepare(req({ profile: 'dev' })).spec.security;
    expect(s).toEqual({ user: '0:0', readOnlyRootfs: false, networkMode: 'none', seccompProfile: 'default', privileged: false });
  });

  it('standard: read-only root as nobody', () => {
    const s = executor(RUNC).prepare(req()).spec.security;
    expect(s).toEqual({ user: '65534:65534', readOnlyRootfs: true, networkMode: 'none', seccompProfile: 'default', privileged: false });
  });

  it('the spec security is a copy: changing it does not change the next one', () => {
    const a = executor().prepare(req()).spec;
    a.security.privileged = true;
    expect(executor().prepare(req()).spec.security.privileged).toBe(false);
  });
});

describe('Executor.prepare: the spec', () => {
  it('labels, id, runtime and image', () => {
    const p = executor().prepare(req({ language: 'js' }), 'kx-00112233445566778899');
    expect(p.spec.id).toBe('kx-00112233445566778899');
    expect(p.spec.labels).toEqual({
      [LABEL_MANAGED]: 'true',
      [LABEL_EXECUTION]: 'kx-00112233445566778899',
      [LABEL_INSTANCE]: 'inst-1',
      'org.kata-exec.language': 'javascript',
      'org.kata-exec.profile': 'standard',
    });
    expect(LABEL_MANAGED).toBe('org.kata-exec.managed');
    expect(p.spec.runtime).toBe('kata');
    expect(p.spec.hypervisor).toBe('qemu');
    expect(p.spec.image).toBe(cfg.image);
  });

  it('a generated id is a valid sandbox id and the spec validates', () => {
    for (const rt of [KATA, RUNC, GVISOR]) {
      const p = executor(rt).prepare(req());
      expect(p.spec.id).toMatch(/^kx-[0-9a-f]{20}$/);
      expect(() => validateSandboxSpec(p.spec)).not.toThrow();
    }
    expect(newExecutionId()).not.toBe(newExecutionId());
  });
});

describe('Executor.prepare: outputFiles with a compile or tests', () => {
  it('are read after the steps: the spec has both its steps and what to collect', () => {
    const compiled = executor(RUNC).prepare({ language: 'c', code: 'int main(void){return 0;}', outputFiles: ['out/*'] });
    expect(compiled.spec.steps).toHaveLength(2);
    expect(compiled.spec.collect?.patterns).toEqual(['out/*']);
    const tested = executor(RUNC).prepare(req({ outputFiles: ['*.txt'], tests: [{}, {}] }));
    expect(tested.spec.steps).toHaveLength(2);
    expect(tested.spec.collect?.patterns).toEqual(['*.txt']);
  });
});

describe('Executor.template: what a pool class is made from', () => {
  it('a profile at its defaults; its compiled class is the sandbox a compiled request at the defaults gets, so that request matches it', () => {
    const e = executor(RUNC);
    const def = e.template({ profile: 'standard', kind: 'default' });
    const compiled = e.template({ profile: 'standard', kind: 'compiled' });
    expect(def.resources.memoryBytes).toBe(256 * MiB);
    expect(compiled.resources.memoryBytes).toBe(512 * MiB);
    const c = e.prepare({ language: 'c', code: 'int main(void){return 0;}', tests: [{ memoryMb: 64 }] });
    expect(poolKey(c.spec)).toBe(poolKey(compiled));
    expect(poolKey(e.prepare(req()).spec)).toBe(poolKey(def));
    // Each step keeps its own memory limit, enforced by the launcher.
    expect(c.spec.steps!.map((s) => s.memoryKb)).toEqual([512 * 1024, 64 * 1024]);
  });

  it('the compiled class of a profile whose defaults already hold the compile is the same sandbox', () => {
    const big = new Executor({ config: loadConfig({ KATA_EXEC_MEMORY_MB_DEFAULT: '1024' }), runtime: RUNC, runner: null, instanceId: 'i' });
    expect(poolKey(big.template({ profile: 'standard', kind: 'compiled' }))).toBe(poolKey(big.template({ profile: 'standard', kind: 'default' })));
  });

  it('knows whether the image holds a compiled language, once its languages are known', () => {
    let langs: Record<string, string> | null = null;
    const e = new Executor({ config: cfg, runtime: RUNC, runner: null, instanceId: 'i', imageLanguages: () => langs });
    expect(e.imageHasCompiledLanguage()).toBeNull();
    langs = { python: '3.11', bash: '5.2' };
    expect(e.imageHasCompiledLanguage()).toBe(false);
    langs = { python: '3.11', c: '12' };
    expect(e.imageHasCompiledLanguage()).toBe(true);
  });
});

describe('Executor.run', () => {
  it('without a runner: RunnerNotConfiguredError', async () => {
    const ex = executor();
    await expect(ex.run(ex.prepare(req()), { queuedMs: 0, startedAt: Date.now() })).rejects.toMatchObject({ code: 'RUNNER_NOT_CONFIGURED' });
  });
});

const cap = (s: string | Buffer, droppedBytes = 0): CapturedStream => {
  const data = typeof s === 'string' ? Buffer.from(s) : s;
  return { data, totalBytes: data.length + droppedBytes, droppedBytes };
};

function result(over: Partial<SandboxResult> = {}): SandboxResult {
  return {
    exitCode: 0,
    signal: null,
    stdout: cap(''),
    stderr: cap(''),
    timedOut: false,
    oomKilled: false,
    outputLimitHit: false,
    usage: null,
    timing: { setupMs: 1, runMs: 2 },
    ...over,
  };
}

describe('statusOf', () => {
  it.each<[string, Partial<SandboxResult>, string]>([
    ['exit 0', {}, 'ok'],
    ['exit 1', { exitCode: 1 }, 'error'],
    ['timeout wins over everything', { timedOut: true, exitCode: 137, signal: 'SIGKILL', outputLimitHit: true }, 'timeout'],
    ['output limit', { outputLimitHit: true, exitCode: 137, signal: 'SIGKILL' }, 'output_limit'],
    ['oom', { oomKilled: true, exitCode: 137, signal: 'SIGKILL' }, 'oom'],
    ['killed by a signal', { exitCode: 137, signal: 'SIGKILL' }, 'killed'],
    ['killed by SIGSEGV', { exitCode: 139, signal: 'SIGSEGV' }, 'killed'],
    ['no exit code', { exitCode: null }, 'sandbox_error'],
    ['no exit code, its pids cgroup ended it', { exitCode: null, pidsLimitHit: true }, 'killed'],
    ['an OOM kill explains an end before its pids cgroup', { exitCode: null, oomKilled: true, pidsLimitHit: true }, 'oom'],
  ])('%s -> %s', (_n, over, want) => {
    expect(statusOf(result(over))).toBe(want);
  });
});

describe('Executor.toResult', () => {
  const ex = executor();
  const p = ex.prepare(req({ limits: { outputBytes: 10 } }), 'kx-00112233445566778899');

  it('value parsed from the last __OUT__ line; backend and limits reported', () => {
    const r = ex.toResult(p, result({ stdout: cap('hello\n__OUT__:{"a":1}\n') }), 7, Date.now());
    expect(r.value).toEqual({ a: 1 });
    expect(r.status).toBe('ok');
    expect(r.stdout).toBe('hello\n__OUT__:{"a":1}\n');
    expect(r.truncated).toBe(false);
    expect(r.droppedBytes).toEqual({ stdout: 0, stderr: 0 });
    expect(r.timing).toEqual({ queuedMs: 7, setupMs: 1, runMs: 2 });
    expect(r.usage).toBeNull();
    expect(r.backend).toEqual({ kind: 'kata', ociRuntime: 'io.containerd.kata-qemu.v2', hypervisor: 'qemu', isolation: 'vm', profile: 'standard' });
    expect(r.limits).toBe(p.limits);
    expect(r.id).toBe('kx-00112233445566778899');
    expect(r.language).toBe('python');
  });

  it('no __OUT__ line: no value key', () => {
    const r = ex.toResult(p, result({ stdout: cap('plain') }), 0, Date.now());
    expect('value' in r).toBe(false);
  });

  it('__OUT__:null gives value null (present)', () => {
    const r = ex.toResult(p, result({ stdout: cap('__OUT__:null') }), 0, Date.now());
    expect('value' in r).toBe(true);
    expect(r.value).toBeNull();
  });

  it('truncated and droppedBytes from the captures; the dropped middle is marked', () => {
    // outputBytes 10: head 5 bytes, tail 5 bytes.
    const r = ex.toResult(p, result({ stdout: cap('01234vwxyz', 90), stderr: cap('err') }), 0, Date.now());
    expect(r.truncated).toBe(true);
    expect(r.droppedBytes).toEqual({ stdout: 90, stderr: 0 });
    expect(r.stdout).toBe('01234\n…[90 bytes dropped]…\nvwxyz');
    expect(r.stderr).toBe('err');
  });

  it('truncated when only stderr dropped bytes', () => {
    const r = ex.toResult(p, result({ stderr: cap('aaaaabbbbb', 1) }), 0, Date.now());
    expect(r.truncated).toBe(true);
    expect(r.droppedBytes).toEqual({ stdout: 0, stderr: 1 });
  });

  it('invalid UTF-8 becomes U+FFFD', () => {
    const r = ex.toResult(p, result({ stdout: cap(Buffer.from([0x61, 0xff, 0x62, 0xc3])) }), 0, Date.now());
    expect(r.stdout).toBe('a\uFFFDb\uFFFD');
  });

  it('a timeout reports SIGKILL even if the runner gave no signal', () => {
    const r = ex.toResult(p, result({ timedOut: true, exitCode: null, signal: null }), 0, Date.now());
    expect(r.status).toBe('timeout');
    expect(r.signal).toBe('SIGKILL');
  });

  it('a signal is passed through', () => {
    const r = ex.toResult(p, result({ exitCode: 143, signal: 'SIGTERM' }), 0, Date.now());
    expect(r.status).toBe('killed');
    expect(r.signal).toBe('SIGTERM');
    expect(r.exitCode).toBe(143);
  });
});

describe('Executor.limitsEnforced', () => {
  it('config mode enforces everything; image mode (firecracker) not pids, disk, open files', () => {
    const cfgMode = executor(KATA);
    expect(cfgMode.limitsEnforced(cfgMode.prepare(req()))).toEqual({
      timeout: true,
      memory: true,
      cpu: true,
      pids: true,
      disk: true,
      output: true,
      openFiles: true,
      // No CPU-time limit was asked for.
      cpuTime: false,
      network: true,
      readOnlyRootfs: true,
      // Kata's guest applies the filter only when its configuration asks for it.
      seccomp: false,
    });
    // ...which the service read in the file the shim uses (host/kata-config.ts).
    const seen = executor({ ...KATA, guestSeccomp: true });
    expect(seen.limitsEnforced(seen.prepare(req())).seccomp).toBe(true);
    const img = executor(FC);
    expect(img.limitsEnforced(img.prepare(req({ profile: 'dev' })))).toMatchObject({
      pids: false,
      disk: false,
      openFiles: false,
      readOnlyRootfs: false,
    });
  });
});
