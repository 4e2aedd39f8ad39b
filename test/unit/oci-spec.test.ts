import { describe, expect, it } from 'vitest';
import type { RuntimeTarget } from '../../src/ctr/argv.js';
import { buildOciSpec, type OciSeccomp, type OciSpecInput } from '../../src/ctr/oci-spec.js';
import { loadConfig } from '../../src/config.js';
import { gvisorPidsBackstop } from '../../src/runtimes/gvisor.js';
import { LAUNCHER_CAPABILITIES, launcherInit, ociSpecInput, programInit } from '../../src/sandbox/ctr-spec.js';
import { Executor } from '../../src/execution/executor.js';
import type { Profile } from '../../src/schemas/common.js';
import type { SandboxSpec } from '../../src/sandbox/types.js';

const RUNC: RuntimeTarget = {
  kind: 'runc',
  ociRuntime: 'io.containerd.runc.v2',
  runcBinary: null,
  runtimeConfigPath: null,
  snapshotter: null,
  hypervisor: null,
  launch: 'config',
};
const GVISOR: RuntimeTarget = { ...RUNC, kind: 'gvisor', runcBinary: '/run/kata-exec/runsc-wrapper' };
const KATA: RuntimeTarget = { ...RUNC, kind: 'kata', ociRuntime: 'io.containerd.kata-qemu.v2', hypervisor: 'qemu' };

const DEFAULT_SECCOMP: OciSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
const STRICT_SECCOMP: OciSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['write'], action: 'SCMP_ACT_ALLOW' }] };

const cfg = loadConfig({
  KATA_EXEC_KERNEL_PATH: '/opt/kata/vmlinux',
  KATA_EXEC_IMAGE_PATH: '/opt/kata/kata.img',
});
const ID = 'kx-0123456789abcdef';
const ROOTFS = '/run/kata-exec/rootfs';

function specFor(rt: RuntimeTarget, profile: Profile): SandboxSpec {
  return new Executor({ config: cfg, runtime: rt, runner: null, instanceId: 'inst' }).prepare(
    { language: 'python', code: 'print(1)', profile, limits: { memoryMb: 256, cpus: 0.5, pids: 100, diskMb: 32, openFiles: 300 } },
    ID,
  ).spec;
}

/** The input CtrSandboxRunner.buildArgv gives buildOciSpec in config mode (the same function). */
function inputFor(spec: SandboxSpec, rt: RuntimeTarget): OciSpecInput {
  const seccomp =
    spec.security.seccompProfile === 'unconfined' ? null : spec.security.seccompProfile === 'strict' ? STRICT_SECCOMP : DEFAULT_SECCOMP;
  return ociSpecInput(spec, rt, {
    rootfs: ROOTFS,
    namespace: 'kata-exec',
    init: programInit(spec, ['/bin/sh', '-c', 'x', 'nonce', ...spec.command]),
    seccomp,
  });
}

interface Spec {
  hostname: string;
  process: {
    user: { uid: number; gid: number; additionalGids: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<string, string[]>;
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
    terminal: boolean;
  };
  root: { path: string; readonly: boolean };
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  annotations: Record<string, string>;
  linux: {
    cgroupsPath: string;
    resources: {
      devices: unknown[];
      memory?: { limit: number; swap: number };
      cpu?: { quota: number; period: number };
      pids?: { limit: number };
    };
    namespaces: { type: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp?: OciSeccomp;
  };
}

const build = (i: OciSpecInput) => buildOciSpec(i) as unknown as Spec;
const rlimit = (s: Spec, type: string) => s.process.rlimits.find((r) => r.type === type);
const mount = (s: Spec, dst: string) => s.mounts.find((m) => m.destination === dst);
const nsTypes = (s: Spec) => s.linux.namespaces.map((n) => n.type);

describe('buildOciSpec: settings common to every profile and runtime', () => {
  const cases: [string, RuntimeTarget, Profile][] = [
    ['runc standard', RUNC, 'standard'],
    ['gvisor dev', GVISOR, 'dev'],
    ['gvisor standard', GVISOR, 'standard'],
    ['gvisor hardened', GVISOR, 'hardened'],
    ['kata standard', KATA, 'standard'],
    ['kata hardened', KATA, 'hardened'],
  ];

  it.each(cases)('%s', (_name, rt, profile) => {
    const spec = specFor(rt, profile);
    const s = build(inputFor(spec, rt));
    const caps = s.process.capabilities;
    expect(Object.keys(caps).sort()).toEqual(['ambient', 'bounding', 'effective', 'inheritable', 'permitted']);
    for (const set of Object.values(caps)) expect(set).toEqual([]);
    expect(s.process.noNewPrivileges).toBe(true);
    expect(s.process.terminal).toBe(false);
    expect(rlimit(s, 'RLIMIT_CORE')).toEqual({ type: 'RLIMIT_CORE', hard: 0, soft: 0 });
    expect(nsTypes(s)).toEqual(expect.arrayContaining(['pid', 'ipc', 'uts', 'mount', 'network']));
    expect(s.linux.cgroupsPath).toBe(`/kata-exec/${ID}`);
    expect(s.root.path).toBe(ROOTFS);
    expect(s.process.cwd).toBe('/code');
    expect(s.process.args.slice(-2)).toEqual(['python3', '/code/main.py']);
    expect(s.linux.resources.devices).toEqual([{ allow: false, access: 'rwm' }]);
    // /code: the writable working directory, a tmpfs of the disk limit's size as /tmp is.
    expect(mount(s, '/code')).toEqual({ destination: '/code', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${32 * 1024 * 1024}`] });
    expect(mount(s, '/code')?.options).toEqual(mount(s, '/tmp')?.options);
    // No bind mount from the host at all: the program's files come through the launcher.
    expect(s.mounts.filter((m) => m.type === 'bind')).toEqual([]);
    expect(mount(s, '/sys')?.options).toContain('ro');
    expect(s.linux.maskedPaths).toContain('/proc/kcore');
    expect(s.linux.readonlyPaths).toContain('/proc/sysrq-trigger');
    // memory: swap == limit
    expect(s.linux.resources.memory).toEqual({ limit: 256 * 1024 * 1024, swap: 256 * 1024 * 1024 });
    expect(s.linux.resources.cpu).toEqual({ quota: 50_000, period: 100_000 });
    expect(mount(s, '/tmp')).toEqual({
      destination: '/tmp',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'nodev', 'mode=1777', `size=${32 * 1024 * 1024}`],
    });
    expect(rlimit(s, 'RLIMIT_NOFILE')).toEqual({ type: 'RLIMIT_NOFILE', hard: 300, soft: 300 });
  });
});

describe('buildOciSpec: per profile', () => {
  it('standard: read-only root, nobody, default seccomp', () => {
    const s = build(inputFor(specFor(RUNC, 'standard'), RUNC));
    expect(s.root.readonly).toBe(true);
    expect(s.process.user).toEqual({ uid: 65534, gid: 65534, additionalGids: [65534] });
    expect(s.linux.seccomp).toBe(DEFAULT_SECCOMP);
  });

  it('dev: writable root, uid 0, still no capabilities', () => {
    const s = build(inputFor(specFor(GVISOR, 'dev'), GVISOR));
    expect(s.root.readonly).toBe(false);
    expect(s.process.user).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(s.process.capabilities.bounding).toEqual([]);
  });

  it('hardened: the strict seccomp profile', () => {
    const s = build(inputFor(specFor(KATA, 'hardened'), KATA));
    expect(s.linux.seccomp).toEqual(STRICT_SECCOMP);
    expect(s.root.readonly).toBe(true);
  });

  it('seccomp null: no linux.seccomp key at all', () => {
    const s = build({ ...inputFor(specFor(RUNC, 'standard'), RUNC), seccomp: null });
    expect('seccomp' in s.linux).toBe(false);
  });
});

describe('buildOciSpec: per runtime', () => {
  it('runc: pids cgroup is the limit, no RLIMIT_NPROC, no annotations', () => {
    const s = build(inputFor(specFor(RUNC, 'standard'), RUNC));
    // The limit is the program's: the launcher (init) is one process more.
    expect(s.linux.resources.pids).toEqual({ limit: 101 });
    expect(rlimit(s, 'RLIMIT_NPROC')).toBeUndefined();
    expect(s.annotations).toEqual({});
  });

  it('gvisor: RLIMIT_NPROC is the limit, the cgroup a backstop above it', () => {
    const s = build(inputFor(specFor(GVISOR, 'standard'), GVISOR));
    expect(rlimit(s, 'RLIMIT_NPROC')).toEqual({ type: 'RLIMIT_NPROC', hard: 101, soft: 101 });
    expect(s.linux.resources.pids).toEqual({ limit: gvisorPidsBackstop(101) });
    expect(gvisorPidsBackstop(101)).toBe(512 + 32 * 101);
  });

  it('kata: annotations passed through', () => {
    const s = build(inputFor(specFor(KATA, 'standard'), KATA));
    expect(s.annotations).toEqual({
      'io.katacontainers.config.hypervisor.kernel': '/opt/kata/vmlinux',
      'io.katacontainers.config.hypervisor.image': '/opt/kata/kata.img',
      'io.katacontainers.config.hypervisor.default_memory': '384',
      'io.katacontainers.config.hypervisor.default_vcpus': '1',
    });
  });
});

describe('the launcher as init', () => {
  const launched = (rt: RuntimeTarget, profile: Profile) => {
    const spec = specFor(rt, profile);
    return build(ociSpecInput(spec, rt, { rootfs: ROOTFS, namespace: 'kata-exec', init: launcherInit(spec), seccomp: null }));
  };

  it.each([
    ['runc', RUNC],
    ['gvisor', GVISOR],
    ['kata', KATA],
  ] as const)('%s standard: root with only the capabilities to become nobody and end its processes', (_n, rt) => {
    const s = launched(rt, 'standard');
    expect(s.process.user).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(s.process.args).toEqual(['/usr/local/lib/kata-exec/kx-launch', '--user', '65534:65534']);
    const caps = s.process.capabilities;
    for (const set of ['bounding', 'effective', 'permitted'] as const) expect(caps[set]).toEqual(LAUNCHER_CAPABILITIES);
    expect(caps.inheritable).toEqual([]);
    expect(caps.ambient).toEqual([]);
    expect([...LAUNCHER_CAPABILITIES].sort()).toEqual(['CAP_KILL', 'CAP_SETGID', 'CAP_SETUID']);
    expect(s.process.noNewPrivileges).toBe(true);
  });

  it('the pids cgroup counts the launcher; RLIMIT_NPROC, per uid, the program only', () => {
    const s = launched(GVISOR, 'standard');
    expect(rlimit(s, 'RLIMIT_NPROC')).toEqual({ type: 'RLIMIT_NPROC', hard: 100, soft: 100 });
    expect(s.linux.resources.pids).toEqual({ limit: gvisorPidsBackstop(101) });
    expect(rlimit(launched(KATA, 'standard'), 'RLIMIT_NPROC')).toEqual({ type: 'RLIMIT_NPROC', hard: 100, soft: 100 });
    expect(launched(RUNC, 'standard').linux.resources.pids).toEqual({ limit: 101 });
  });

  it('dev: launcher and program are both root, without any capability', () => {
    const s = launched(GVISOR, 'dev');
    expect(s.process.user).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(s.process.args).toEqual(['/usr/local/lib/kata-exec/kx-launch']);
    for (const set of Object.values(s.process.capabilities)) expect(set).toEqual([]);
    // One uid for both: the launcher counts against RLIMIT_NPROC too.
    expect(rlimit(s, 'RLIMIT_NPROC')).toEqual({ type: 'RLIMIT_NPROC', hard: 101, soft: 101 });
  });
});

describe('buildOciSpec: optional settings', () => {
  const base = inputFor(specFor(RUNC, 'standard'), RUNC);

  it('network none has a network namespace; host has none', () => {
    expect(nsTypes(build({ ...base, network: 'none' }))).toContain('network');
    expect(nsTypes(build({ ...base, network: 'host' }))).not.toContain('network');
  });

  it('zero limits leave out memory, cpu, pids, NOFILE, NPROC and the tmpfs size', () => {
    const s = build({ ...base, memoryBytes: 0, cpuQuota: 0, pids: 0, openFiles: 0, nproc: 0, tmpfsBytes: 0 });
    expect(s.linux.resources.memory).toBeUndefined();
    expect(s.linux.resources.cpu).toBeUndefined();
    expect(s.linux.resources.pids).toBeUndefined();
    expect(s.process.rlimits).toEqual([{ type: 'RLIMIT_CORE', hard: 0, soft: 0 }]);
    expect(mount(s, '/tmp')?.options.some((o) => o.startsWith('size='))).toBe(false);
  });

  it('NPROC set on its own', () => {
    const s = build({ ...base, nproc: 7 });
    expect(rlimit(s, 'RLIMIT_NPROC')).toEqual({ type: 'RLIMIT_NPROC', hard: 7, soft: 7 });
  });

  it('arbitrary annotations pass through unchanged', () => {
    expect(build({ ...base, annotations: { a: 'b' } }).annotations).toEqual({ a: 'b' });
  });
});
