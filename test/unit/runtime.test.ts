import { describe, expect, it } from 'vitest';
import { ErrorCode, KataNotAvailableError, RuntimeUnavailableError } from '../../src/errors.js';
import { shimBinary, type HostRuntimes, type RuntimeSettings } from '../../src/runtimes/driver.js';
import { forKata1Agent, kataRuntimeName, kataShimFor } from '../../src/runtimes/kata.js';
import { driverFor, isolationOf, resolveRuntime } from '../../src/runtimes/registry.js';

const S: RuntimeSettings = {
  runtime: 'auto',
  hypervisor: 'qemu',
  kataShim: 'per-hypervisor',
  kataConfigPath: '',
  runscPath: 'runsc',
  runscWrapperPath: '/run/kata-exec/runsc-wrapper',
};

const host = (shims: string[], runsc = false, runc = false): HostRuntimes => ({
  shims,
  runscPath: runsc ? '/usr/bin/runsc' : null,
  runcPath: runc ? '/usr/bin/runc' : null,
});

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('shimBinary', () => {
  it.each([
    ['io.containerd.kata-qemu.v2', 'containerd-shim-kata-qemu-v2'],
    ['io.containerd.kata-clh.v2', 'containerd-shim-kata-clh-v2'],
    ['io.containerd.kata.v2', 'containerd-shim-kata-v2'],
    ['io.containerd.runc.v2', 'containerd-shim-runc-v2'],
  ])('%s -> %s', (name, bin) => {
    expect(shimBinary(name)).toBe(bin);
  });

  it('rejects something that is not a runtime name', () => {
    expect(() => shimBinary('kata')).toThrow(/not a containerd runtime name/);
  });
});

describe('kataRuntimeName', () => {
  it('per-hypervisor and generic names', () => {
    expect(kataRuntimeName('qemu', 'per-hypervisor')).toBe('io.containerd.kata-qemu.v2');
    expect(kataRuntimeName('cloud-hypervisor', 'per-hypervisor')).toBe('io.containerd.kata-clh.v2');
    expect(kataRuntimeName('firecracker', 'per-hypervisor')).toBe('io.containerd.kata-fc.v2');
    expect(kataRuntimeName('firecracker', 'generic')).toBe('io.containerd.kata.v2');
  });
});

describe('resolveRuntime: auto', () => {
  it('picks kata when its shim is installed, even with gvisor available', () => {
    const rt = resolveRuntime(S, host(['containerd-shim-kata-qemu-v2', 'containerd-shim-runc-v2'], true, true));
    expect(rt).toMatchObject({ kind: 'kata', ociRuntime: 'io.containerd.kata-qemu.v2', launch: 'config', hypervisor: 'qemu', snapshotter: null });
  });

  it('does not count the generic shim when per-hypervisor is configured', () => {
    const rt = resolveRuntime(S, host(['containerd-shim-kata-v2', 'containerd-shim-runc-v2'], true));
    expect(rt.kind).toBe('gvisor');
  });

  it('uses the generic shim when configured so', () => {
    const rt = resolveRuntime({ ...S, kataShim: 'generic' }, host(['containerd-shim-kata-v2']));
    expect(rt).toMatchObject({ kind: 'kata', ociRuntime: 'io.containerd.kata.v2' });
  });

  it('falls back to gvisor when runsc and the runc shim exist', () => {
    const rt = resolveRuntime(S, host(['containerd-shim-runc-v2'], true, true));
    expect(rt).toEqual({
      kind: 'gvisor',
      ociRuntime: 'io.containerd.runc.v2',
      runcBinary: '/run/kata-exec/runsc-wrapper',
      runtimeConfigPath: null,
      snapshotter: null,
      hypervisor: null,
      launch: 'config',
    });
  });

  it('gvisor needs the runc shim too', () => {
    expect(() => resolveRuntime(S, host([], true, true))).toThrow(RuntimeUnavailableError);
  });

  it('never picks runc, and names what to install', () => {
    const e = thrown(() => resolveRuntime(S, host(['containerd-shim-runc-v2'], false, true)));
    expect(e).toBeInstanceOf(RuntimeUnavailableError);
    const err = e as RuntimeUnavailableError;
    expect(err.code).toBe(ErrorCode.RuntimeNotInstalled);
    expect(err.message).toContain('containerd-shim-kata-qemu-v2');
    expect(err.message).toContain('runsc');
    expect(err.message).toContain('KATA_EXEC_RUNTIME=runc');
  });
});

describe('resolveRuntime: explicit', () => {
  it('kata without its shim: KataNotAvailableError (KATA_NOT_AVAILABLE)', () => {
    const e = thrown(() => resolveRuntime({ ...S, runtime: 'kata', hypervisor: 'cloud-hypervisor' }, host(['containerd-shim-kata-qemu-v2'], true, true)));
    expect(e).toBeInstanceOf(KataNotAvailableError);
    expect((e as KataNotAvailableError).code).toBe('KATA_NOT_AVAILABLE');
    expect((e as Error).message).toContain('containerd-shim-kata-clh-v2');
  });

  it('kata with a config path passes it on; empty config path is null', () => {
    const shims = host(['containerd-shim-kata-clh-v2']);
    expect(resolveRuntime({ ...S, runtime: 'kata', hypervisor: 'cloud-hypervisor', kataConfigPath: '/etc/k.toml' }, shims).runtimeConfigPath).toBe(
      '/etc/k.toml',
    );
    expect(resolveRuntime({ ...S, runtime: 'kata', hypervisor: 'cloud-hypervisor' }, shims).runtimeConfigPath).toBeNull();
  });

  it('firecracker: image launch with the devmapper snapshotter', () => {
    const rt = resolveRuntime({ ...S, runtime: 'kata', hypervisor: 'firecracker' }, host(['containerd-shim-kata-fc-v2']));
    expect(rt).toEqual({
      kind: 'kata',
      ociRuntime: 'io.containerd.kata-fc.v2',
      runcBinary: null,
      runtimeConfigPath: null,
      snapshotter: 'devmapper',
      hypervisor: 'firecracker',
      launch: 'image',
      // No Kata configuration was read: seccomp in the guest is never claimed unseen.
      guestSeccomp: false,
    });
  });

  it('gvisor without runsc throws', () => {
    expect(() => resolveRuntime({ ...S, runtime: 'gvisor' }, host(['containerd-shim-runc-v2'], false, true))).toThrow(/runsc/);
  });

  it('runc when named and installed; no --runc-binary', () => {
    const rt = resolveRuntime({ ...S, runtime: 'runc' }, host(['containerd-shim-runc-v2', 'containerd-shim-kata-qemu-v2'], true, true));
    expect(rt).toMatchObject({ kind: 'runc', ociRuntime: 'io.containerd.runc.v2', runcBinary: null, hypervisor: null, launch: 'config' });
  });

  it('runc without runc binary throws RuntimeUnavailableError', () => {
    expect(() => resolveRuntime({ ...S, runtime: 'runc' }, host(['containerd-shim-runc-v2']))).toThrow(RuntimeUnavailableError);
  });
});

describe('isolationOf', () => {
  it('maps kinds to isolation', () => {
    expect(isolationOf('kata')).toBe('vm');
    expect(isolationOf('gvisor')).toBe('gvisor');
    expect(isolationOf('runc')).toBe('container');
  });
});

describe('the Kata driver on Kata 1.x (the kit)', () => {
  const hostWith = (shims: string[]) => ({ shims, runscPath: null, runcPath: null });
  it('KATA_EXEC_KATA_SHIM=auto: per-hypervisor when installed, else the generic shim', () => {
    expect(kataShimFor('auto', 'qemu', hostWith(['containerd-shim-kata-qemu-v2', 'containerd-shim-kata-v2']))).toBe('per-hypervisor');
    expect(kataShimFor('auto', 'qemu', hostWith(['containerd-shim-kata-v2']))).toBe('generic');
    expect(kataShimFor('generic', 'qemu', hostWith([]))).toBe('generic');
  });

  it('the pids limit is RLIMIT_NPROC too (Kata 1.x drops the pids cgroup)', () => {
    expect(driverFor('kata').pidLimits(64)).toEqual({ pids: 64, nproc: 64 });
  });

  it('seccomp: the errnoRet rule becomes SCMP_ACT_TRACE (ENOSYS without a tracer); nothing else changes', () => {
    const p = {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
        { names: ['x'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
      ],
    };
    expect(forKata1Agent(p).syscalls).toEqual([
      { names: ['read'], action: 'SCMP_ACT_ALLOW' },
      { names: ['clone3'], action: 'SCMP_ACT_TRACE' },
      { names: ['x'], action: 'SCMP_ACT_ERRNO' },
    ]);
  });

  it('readiness says when VMs are emulated, and stays ok', () => {
    const t = driverFor('kata').target({ runtime: 'kata', hypervisor: 'qemu', kataShim: 'generic', kataConfigPath: '', runscPath: 'runsc', runscWrapperPath: '/w' });
    const h = driverFor('kata').health(t, { ...hostWith(['containerd-shim-kata-v2']), hardwareVirtualization: false });
    expect(h.ok).toBe(true);
    expect(h.detail).toContain('emulated');
    expect(driverFor('kata').health(t, { ...hostWith(['containerd-shim-kata-v2']), hardwareVirtualization: true }).detail).not.toContain('emulated');
  });
});
