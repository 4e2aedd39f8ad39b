import { describe, expect, it } from 'vitest';
import {
  deleteContainerArgv,
  deleteTaskArgv,
  globalArgs,
  killTaskArgv,
  listContainersArgv,
  listTasksArgv,
  runtimeArgs,
  runWithConfigArgv,
  runWithImageArgv,
  type CtrTarget,
  type ImageRunOptions,
  type RuntimeTarget,
} from '../../src/ctr/argv.js';
import { loadConfig } from '../../src/config.js';
import { Executor } from '../../src/execution/executor.js';
import { imageRunOptions } from '../../src/sandbox/ctr-spec.js';
import type { HostRuntimes, RuntimeSettings } from '../../src/runtimes/driver.js';
import { resolveRuntime } from '../../src/runtimes/registry.js';
import type { Hypervisor, Profile } from '../../src/schemas/common.js';
import type { SandboxSpec } from '../../src/sandbox/types.js';

const T: CtrTarget = { address: '/run/kata-exec/containerd/containerd.sock', namespace: 'kata-exec' };
const G = ['--address', '/run/kata-exec/containerd/containerd.sock', '--namespace', 'kata-exec', '--connect-timeout', '3s'];

const ALL_SHIMS: HostRuntimes = {
  shims: [
    'containerd-shim-runc-v2',
    'containerd-shim-kata-v2',
    'containerd-shim-kata-qemu-v2',
    'containerd-shim-kata-clh-v2',
    'containerd-shim-kata-fc-v2',
  ],
  runscPath: '/usr/bin/runsc',
  runcPath: '/usr/bin/runc',
};

function settings(over: Partial<RuntimeSettings> = {}): RuntimeSettings {
  return {
    runtime: 'auto',
    hypervisor: 'qemu',
    kataShim: 'per-hypervisor',
    kataConfigPath: '',
    runscPath: 'runsc',
    runscWrapperPath: '/run/kata-exec/runsc-wrapper',
    ...over,
  };
}

function target(over: Partial<RuntimeSettings>): RuntimeTarget {
  return resolveRuntime(settings(over), ALL_SHIMS);
}

const LABELS = { zeta: 'z', alpha: 'a', 'org.kata-exec.managed': 'true', mid: 'm' };
const SORTED_LABEL_ARGS = ['--label', 'alpha=a', '--label', 'mid=m', '--label', 'org.kata-exec.managed=true', '--label', 'zeta=z'];

function configArgv(rt: RuntimeTarget): string[] {
  return runWithConfigArgv(T, rt, { id: 'kx-0123456789', specPath: '/run/kata-exec/work/kx-0123456789/spec.json', labels: LABELS });
}

describe('globalArgs', () => {
  it('is address, namespace and a connect timeout', () => {
    expect(globalArgs(T)).toEqual(G);
  });
});

describe('runWithConfigArgv: runtime selection', () => {
  const tail = [...SORTED_LABEL_ARGS, '--config', '/run/kata-exec/work/kx-0123456789/spec.json', 'kx-0123456789'];

  it('runc: io.containerd.runc.v2 without --runc-binary', () => {
    const argv = configArgv(target({ runtime: 'runc' }));
    expect(argv).toEqual([...G, 'run', '--rm', '--runtime', 'io.containerd.runc.v2', ...tail]);
    expect(argv).not.toContain('--runc-binary');
  });

  it('gvisor: io.containerd.runc.v2 with the runsc wrapper as --runc-binary', () => {
    const argv = configArgv(target({ runtime: 'gvisor' }));
    expect(argv).toEqual([
      ...G,
      'run',
      '--rm',
      '--runtime',
      'io.containerd.runc.v2',
      '--runc-binary',
      '/run/kata-exec/runsc-wrapper',
      ...tail,
    ]);
  });

  it.each<[Hypervisor, string]>([
    ['qemu', 'io.containerd.kata-qemu.v2'],
    ['cloud-hypervisor', 'io.containerd.kata-clh.v2'],
  ])('kata %s per-hypervisor: %s', (hypervisor, name) => {
    const argv = configArgv(target({ runtime: 'kata', hypervisor }));
    expect(argv).toEqual([...G, 'run', '--rm', '--runtime', name, ...tail]);
    expect(argv).not.toContain('--snapshotter');
    expect(argv).not.toContain('--runc-binary');
  });

  it.each<Hypervisor>(['qemu', 'cloud-hypervisor'])('kata %s generic shim: io.containerd.kata.v2', (hypervisor) => {
    const argv = configArgv(target({ runtime: 'kata', hypervisor, kataShim: 'generic' }));
    expect(argv).toEqual([...G, 'run', '--rm', '--runtime', 'io.containerd.kata.v2', ...tail]);
  });

  it('kata with a config path: --runtime-config-path after --runtime', () => {
    const argv = configArgv(target({ runtime: 'kata', hypervisor: 'cloud-hypervisor', kataConfigPath: '/etc/kata/clh.toml' }));
    expect(argv).toEqual([
      ...G,
      'run',
      '--rm',
      '--runtime',
      'io.containerd.kata-clh.v2',
      '--runtime-config-path',
      '/etc/kata/clh.toml',
      ...tail,
    ]);
  });

  it('kata without a config path passes no --runtime-config-path', () => {
    expect(configArgv(target({ runtime: 'kata' }))).not.toContain('--runtime-config-path');
  });

  it('global args come first, then the subcommand', () => {
    for (const rt of [target({ runtime: 'runc' }), target({ runtime: 'gvisor' }), target({ runtime: 'kata' })]) {
      const argv = configArgv(rt);
      expect(argv.slice(0, 6)).toEqual(G);
      expect(argv.slice(6, 8)).toEqual(['run', '--rm']);
      expect(argv.at(-1)).toBe('kx-0123456789');
    }
  });

  it('labels are sorted by key whatever the insertion order', () => {
    const a = runWithConfigArgv(T, target({ runtime: 'runc' }), { id: 'x', specPath: '/s', labels: { b: '2', a: '1', c: '3' } });
    const b = runWithConfigArgv(T, target({ runtime: 'runc' }), { id: 'x', specPath: '/s', labels: { c: '3', a: '1', b: '2' } });
    expect(a).toEqual(b);
    expect(a.filter((_, i) => a[i - 1] === '--label')).toEqual(['a=1', 'b=2', 'c=3']);
  });
});

describe('runtimeArgs', () => {
  it('firecracker: kata-fc runtime, config path, then devmapper snapshotter', () => {
    expect(runtimeArgs(target({ runtime: 'kata', hypervisor: 'firecracker', kataConfigPath: '/etc/kata/fc.toml' }))).toEqual([
      '--runtime',
      'io.containerd.kata-fc.v2',
      '--runtime-config-path',
      '/etc/kata/fc.toml',
      '--snapshotter',
      'devmapper',
    ]);
  });
});

// The image launch mode (Firecracker), with its options built the way
// CtrSandboxRunner.buildArgv builds them from an Executor-prepared spec.
const cfg = loadConfig({});
const FC = target({ runtime: 'kata', hypervisor: 'firecracker' });
const WRAPPED = ['/bin/sh', '-c', 'printf "%s\\n" "$0" && exec "$@"', 'kx-start-n', 'python3', '/code/main.py'];

function prepared(profile: Profile): SandboxSpec {
  const ex = new Executor({ config: cfg, runtime: FC, runner: null, instanceId: 'inst-1' });
  return ex.prepare({ language: 'python', code: 'print(1)', profile, limits: { memoryMb: 256, cpus: 1.5, diskMb: 64 } }, 'kx-aaaaaaaaaa')
    .spec;
}

/** The options the runner builds for image mode (the same function). */
function imageOpts(spec: SandboxSpec): ImageRunOptions {
  return imageRunOptions(spec, { command: WRAPPED, seccomp: spec.security.seccompProfile !== 'unconfined', detach: false });
}

describe('runWithImageArgv (firecracker)', () => {
  it('standard profile: exact argv', () => {
    const spec = prepared('standard');
    const argv = runWithImageArgv(T, FC, imageOpts(spec));
    expect(argv).toEqual([
      ...G,
      'run',
      '--rm',
      '--runtime',
      'io.containerd.kata-fc.v2',
      '--snapshotter',
      'devmapper',
      '--label',
      'org.kata-exec.execution=kx-aaaaaaaaaa',
      '--label',
      'org.kata-exec.instance=inst-1',
      '--label',
      'org.kata-exec.language=python',
      '--label',
      'org.kata-exec.managed=true',
      '--label',
      'org.kata-exec.profile=standard',
      '--annotation',
      'io.katacontainers.config.hypervisor.default_memory=384',
      '--annotation',
      'io.katacontainers.config.hypervisor.default_vcpus=2',
      '--read-only',
      '--memory-limit',
      String(256 * 1024 * 1024),
      '--cpu-quota',
      '150000',
      '--cpu-period',
      '100000',
      '--seccomp',
      '--cwd',
      '/code',
      ...spec.env.flatMap((e) => ['--env', e]),
      '--mount',
      `type=tmpfs,src=tmpfs,dst=/code,options=nosuid:nodev:mode=1777:size=${64 * 1024 * 1024}`,
      '--mount',
      `type=tmpfs,src=tmpfs,dst=/tmp,options=nosuid:nodev:mode=1777:size=${64 * 1024 * 1024}`,
      'toolruntime-sandbox:latest',
      'kx-aaaaaaaaaa',
      ...WRAPPED,
    ]);
    expect(spec.env.length).toBeGreaterThan(0);
  });

  it('dev profile: no --read-only; never --user or --hostname, which ctr 1.6 does not have', () => {
    const argv = runWithImageArgv(T, FC, imageOpts(prepared('dev')));
    expect(argv).not.toContain('--read-only');
    expect(argv).not.toContain('--user');
    expect(argv).not.toContain('--hostname');
  });

  it('hardened profile: read-only, seccomp, nobody', () => {
    const argv = runWithImageArgv(T, FC, imageOpts(prepared('hardened')));
    expect(argv).toContain('--read-only');
    expect(argv).toContain('--seccomp');
    expect(argv).not.toContain('--user');
  });

  it('zero memory and cpu quota pass no limit flags; no seccomp passes no --seccomp', () => {
    const o = { ...imageOpts(prepared('standard')), memoryBytes: 0, cpuQuota: 0, seccomp: false, annotations: {} };
    const argv = runWithImageArgv(T, FC, o);
    for (const f of ['--memory-limit', '--cpu-quota', '--cpu-period', '--seccomp', '--annotation']) expect(argv).not.toContain(f);
  });

  it('image, id and command come last, in that order', () => {
    const o = imageOpts(prepared('standard'));
    const argv = runWithImageArgv(T, FC, o);
    expect(argv.slice(-(WRAPPED.length + 2))).toEqual(['toolruntime-sandbox:latest', 'kx-aaaaaaaaaa', ...WRAPPED]);
  });

  it('hostile strings stay single argv elements, never joined into a shell string', () => {
    const evil = ['bash', '-c', 'echo hi; rm -rf / && $(id) `whoami` | cat > /x'];
    const o: ImageRunOptions = { ...imageOpts(prepared('standard')), command: evil, env: ['X=a b;c', 'Y=$(id)'] };
    const argv = runWithImageArgv(T, FC, o);
    expect(argv.every((a) => typeof a === 'string')).toBe(true);
    expect(argv.slice(-3)).toEqual(evil);
    expect(argv).toContain('X=a b;c');
    expect(argv).toContain('Y=$(id)');
    // No flag was glued to its value.
    expect(argv.some((a) => /^--[a-z-]+ /.test(a))).toBe(false);
  });
});

describe('task and container commands', () => {
  it('kill: tasks kill --all --signal SIGKILL id', () => {
    expect(killTaskArgv(T, 'kx-1')).toEqual([...G, 'tasks', 'kill', '--all', '--signal', 'SIGKILL', 'kx-1']);
    expect(killTaskArgv(T, 'kx-1', 'SIGTERM')).toEqual([...G, 'tasks', 'kill', '--all', '--signal', 'SIGTERM', 'kx-1']);
  });

  it('delete task and container', () => {
    expect(deleteTaskArgv(T, 'kx-1')).toEqual([...G, 'tasks', 'delete', '--force', 'kx-1']);
    expect(deleteContainerArgv(T, 'kx-1')).toEqual([...G, 'containers', 'delete', 'kx-1']);
  });

  it('listContainersArgv filters on a quoted label key', () => {
    expect(listContainersArgv(T, { key: 'org.kata-exec.instance', value: 'inst-1' })).toEqual([
      ...G,
      'containers',
      'list',
      '--quiet',
      'labels."org.kata-exec.instance"==inst-1',
    ]);
    expect(listContainersArgv(T)).toEqual([...G, 'containers', 'list', '--quiet']);
  });

  it('listTasksArgv', () => {
    expect(listTasksArgv(T)).toEqual([...G, 'tasks', 'list']);
  });
});
