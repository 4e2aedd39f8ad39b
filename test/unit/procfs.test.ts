// The /proc and mountinfo parsers of src/ctr/processes.ts and src/ctr/mounts.ts.
import { describe, expect, it } from 'vitest';
import { mountPointsUnder, parseMountPoints } from '../../src/ctr/mounts.js';
import { kataLeftovers } from '../../src/runtimes/kata.js';
import { runcDriver } from '../../src/runtimes/runc.js';
import { gvisorDriver } from '../../src/runtimes/gvisor.js';
import { flagValue, orphanShims, parseCmdline, parseStatPpid, strayClients, type Proc } from '../../src/ctr/processes.js';

describe('/proc/<pid>/stat', () => {
  it('reads the parent pid after the last ")", whatever the command name holds', () => {
    expect(parseStatPpid('1234 (ctr) S 1 1234 1234 0 -1 4194560 0')).toBe(1);
    expect(parseStatPpid('77 (a) b) (c) R 4242 77 77 0')).toBe(4242);
    expect(parseStatPpid('88 (with space) S 9 88 88 0')).toBe(9);
  });
});

describe('/proc/<pid>/cmdline', () => {
  it('splits on NUL', () => {
    expect(parseCmdline('ctr\0--address\0/run/c.sock\0events')).toEqual(['ctr', '--address', '/run/c.sock', 'events']);
  });

  it('flagValue: the argument after a flag; undefined without the flag or its value', () => {
    const argv = ['ctr', '--address', '/a', '--namespace'];
    expect(flagValue(argv, '--address')).toBe('/a');
    expect(flagValue(argv, '--namespace')).toBeUndefined();
    expect(flagValue(argv, '--nope')).toBeUndefined();
  });
});

describe('leftover processes', () => {
  const ctr = (pid: number, ppid: number, address: string, namespace: string): Proc => ({
    pid,
    ppid,
    argv: ['/usr/bin/ctr', '--address', address, '--namespace', namespace, 'events'],
  });
  const shim = (pid: number, id: string, address: string, namespace: string): Proc => ({
    pid,
    ppid: 1,
    argv: ['/usr/bin/containerd-shim-runc-v2', '-namespace', namespace, '-id', id, '-address', address],
  });

  it('stray clients: ctr of our socket and namespace that is not our child', () => {
    const procs = [ctr(10, 1, '/s', 'kx'), ctr(11, 500, '/s', 'kx'), ctr(12, 1, '/other', 'kx'), ctr(13, 1, '/s', 'k8s'), { pid: 14, ppid: 1, argv: ['bash'] }];
    expect(strayClients(procs, '/s', 'kx', 500).map((p) => p.pid)).toEqual([10]);
  });

  it('orphan shims: shims of our socket and namespace whose container is gone', () => {
    const procs = [shim(20, 'live', '/s', 'kx'), shim(21, 'gone', '/s', 'kx'), shim(22, 'gone', '/s', 'other'), shim(23, 'gone', '/x', 'kx')];
    expect(orphanShims(procs, '/s', 'kx', new Set(['live'])).map((p) => p.pid)).toEqual([21]);
  });
});

describe('mountinfo', () => {
  const info = [
    '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
    '90 22 0:50 / /run/kx/work/kx-1/scratch rw - tmpfs tmpfs rw,size=1024k',
    '91 22 0:51 / /run/kx/work/kx-1/rootfs rw - overlay overlay rw,lowerdir=/a',
    '92 22 0:52 / /run/kx/work-other/x rw - tmpfs tmpfs rw',
    '',
  ].join('\n');

  it('lists every mount point (fifth field)', () => {
    expect(parseMountPoints(info)).toEqual(['/', '/run/kx/work/kx-1/scratch', '/run/kx/work/kx-1/rootfs', '/run/kx/work-other/x']);
  });

  it('the mount points strictly under a directory, deepest first, never a sibling with the same prefix', () => {
    expect(mountPointsUnder(info, '/run/kx/work')).toEqual(['/run/kx/work/kx-1/scratch', '/run/kx/work/kx-1/rootfs']);
    expect(mountPointsUnder(info + '93 91 0:53 / /run/kx/work/kx-1/rootfs/tmp rw - tmpfs t rw\n', '/run/kx/work')[0]).toBe('/run/kx/work/kx-1/rootfs/tmp');
  });
});

describe("a Kata sandbox's leftovers", () => {
  // The argv of the kit's QEMU, as ps showed it for a VM whose shim was killed.
  const qemu = (id: string) => ['/usr/bin/qemu-system-x86_64', '-name', `sandbox-${id}`, '-uuid', 'u', '-qmp', `unix:/run/vc/vm/${id}/qmp.sock,server,nowait`, '-m', '384M'];

  it("matches that sandbox's hypervisor, never another's, nor a prefix of its id", () => {
    const left = kataLeftovers('kx-aaaa');
    expect(left.isProcess(qemu('kx-aaaa'))).toBe(true);
    expect(left.isProcess(qemu('kx-aaaab'))).toBe(false);
    expect(left.isProcess(qemu('kx-bbbb'))).toBe(false);
    // Cloud Hypervisor: no -name, its API socket under /run/vc/vm/<id>/.
    expect(left.isProcess(['/opt/kata/bin/cloud-hypervisor', '--api-socket', '/run/vc/vm/kx-aaaa/clh-api.sock'])).toBe(true);
    expect(left.isProcess(['/opt/kata/bin/cloud-hypervisor', '--api-socket', '/run/vc/vm/kx-aaaab/clh-api.sock'])).toBe(false);
    expect(left.isProcess(['bash', '-c', 'sleep 1'])).toBe(false);
  });

  it('names its shared directory and state, and only its own', () => {
    expect(kataLeftovers('kx-aaaa').dirs).toEqual(['/run/kata-containers/shared/sandboxes/kx-aaaa', '/run/vc/sbs/kx-aaaa', '/run/vc/vm/kx-aaaa']);
  });

  it('runc and gVisor leave nothing once their shim is gone', () => {
    expect(runcDriver.leftovers).toBeUndefined();
    expect(gvisorDriver.leftovers).toBeUndefined();
  });
});
