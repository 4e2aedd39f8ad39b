import { describe, expect, it } from 'vitest';
import { inMountNamespaceArgv } from '../../src/ctr/host.js';
import { listeningSocketInodes } from '../../src/host/containerd-ns.js';

describe('containerd mount namespace', () => {
  const unix = [
    'Num       RefCount Protocol Flags    Type St Inode Path',
    '0000000000000000: 00000002 00000000 00010000 0001 01 52731 /tmp/kx/run/containerd/containerd.sock',
    '0000000000000000: 00000003 00000000 00000000 0001 03 52740 /tmp/kx/run/containerd/containerd.sock',
    '0000000000000000: 00000002 00000000 00010000 0001 01 52733 /tmp/kx/run/containerd/containerd.sock.ttrpc',
    '0000000000000000: 00000002 00000000 00010000 0001 01 11111 /run/containerd/containerd.sock',
    '0000000000000000: 00000002 00000000 00010000 0005 01 22222',
  ].join('\n');

  it('finds the listening socket bound at the address, not its connections or a longer path', () => {
    expect(listeningSocketInodes(unix, '/tmp/kx/run/containerd/containerd.sock')).toEqual(['52731']);
    expect(listeningSocketInodes(unix, '/run/containerd/containerd.sock')).toEqual(['11111']);
    expect(listeningSocketInodes(unix, '/nowhere.sock')).toEqual([]);
  });

  it('runs a command in that namespace through nsenter, or as is in ours', () => {
    expect(inMountNamespaceArgv(4242, ['mount', '-t', 'tmpfs', 'tmpfs', '/x'])).toEqual(['nsenter', '-t', '4242', '-m', '--', 'mount', '-t', 'tmpfs', 'tmpfs', '/x']);
    expect(inMountNamespaceArgv(null, ['umount', '--lazy', '/x'])).toEqual(['umount', '--lazy', '/x']);
  });
});
