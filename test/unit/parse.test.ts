import { describe, expect, it } from 'vitest';
import {
  parseKernelOomLine,
  parseKernelPidsLine,
  parsePidsEvents,
  classifyCtrError,
  lastCtrLine,
  parseIdList,
  parseImageList,
  parseSnapshotKeys,
  parseTaskList,
  signalFromExitStatus,
} from '../../src/ctr/parse.js';

describe('classifyCtrError (ctr 1.6 messages)', () => {
  it.each([
    [
      'ctr: failed to dial "/x.sock": context deadline exceeded: connection error: desc = "transport: error while dialing: dial unix:///x.sock: timeout"',
      'daemon_unavailable',
    ],
    [
      'ctr: failed to start shim: failed to resolve runtime path: runtime "io.containerd.kata-qemu.v2" binary not installed "containerd-shim-kata-qemu-v2": file does not exist: unknown',
      'runtime_not_installed',
    ],
    ['ctr: no running task found: task kx-1 not found: not found', 'not_found'],
    ['ctr: container "x": already exists', 'already_exists'],
    ['ctr: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing"', 'daemon_unavailable'],
    ['ctr: container "kx-1" in namespace "kata-exec": not found', 'not_found'],
    ['ctr: something else went wrong', 'other'],
    // Seen with the Kata kit (Kata 1.13): the agent never answered its first check; retried once.
    [
      'ctr: failed to create shim task: Failed to check if grpc server is working: rpc error: code = Unavailable desc = transport is closing: unknown',
      'vm_agent_unreachable',
    ],
  ] as const)('%s -> %s', (line, want) => {
    expect(classifyCtrError(line)).toBe(want);
  });

  // A Kata VM that booted but whose agent never answered (kata-containers#4723) must not
  // look like containerd being down (503 + Retry-After): containerd answered, the sandbox
  // failed (502 VM_CREATION_FAILED).
  it('a shim task timeout is not containerd being unavailable', () => {
    expect(
      classifyCtrError('ctr: failed to create shim task: Failed to Check if grpc server is working: context deadline exceeded: unknown'),
    ).not.toBe('daemon_unavailable');
  });

  it('reads the last ctr line, not the program output before it', () => {
    const stderr = 'Traceback: already exists\nctr: no running task found: task kx-1 not found: not found\n';
    expect(classifyCtrError(stderr)).toBe('not_found');
  });

  it('the last of several ctr lines counts', () => {
    expect(classifyCtrError('ctr: container "x": already exists\nctr: failed to dial "/s.sock": connection refused\n')).toBe('daemon_unavailable');
  });

  it('without a ctr line, the whole text is classified', () => {
    expect(classifyCtrError('time="x" level=fatal msg="failed to dial \\"/x.sock\\": connection refused"')).toBe('daemon_unavailable');
    expect(classifyCtrError('')).toBe('other');
  });
});

describe('lastCtrLine', () => {
  it('finds the last line that starts with "ctr: "', () => {
    expect(lastCtrLine('a\nctr: one\nb\nctr: two\nc')).toBe('ctr: two');
    expect(lastCtrLine('no ctr here\n  ctr: indented')).toBeNull();
  });
});

describe('parseIdList', () => {
  it('one id a line, blanks dropped', () => {
    expect(parseIdList('kx-1\n\n  kx-2  \n')).toEqual(['kx-1', 'kx-2']);
    expect(parseIdList('')).toEqual([]);
  });
});

describe('parseTaskList', () => {
  it('skips the header and parses rows', () => {
    const out = 'TASK        PID      STATUS    \nkx-abc      12345    RUNNING\nkx-def      0        STOPPED\n\n';
    expect(parseTaskList(out)).toEqual([
      { id: 'kx-abc', pid: 12345, status: 'RUNNING' },
      { id: 'kx-def', pid: 0, status: 'STOPPED' },
    ]);
  });

  it('header only: empty', () => {
    expect(parseTaskList('TASK    PID    STATUS    \n')).toEqual([]);
  });
});

describe('parseImageList', () => {
  it('reads ref and digest; SIZE has a space in it', () => {
    const digest = 'sha256:2ac1b0f7a1c2d9e4e0f7f4a7c1b2e3d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0';
    const out = [
      'REF                        TYPE                                    DIGEST  SIZE     PLATFORMS   LABELS ',
      `toolruntime-sandbox:latest application/vnd.oci.image.index.v1+json ${digest} 68.8 MiB linux/amd64 - `,
      `docker.io/library/busybox:1.36 application/vnd.docker.distribution.manifest.list.v2+json sha256:ffff 2.1 MiB linux/386,linux/amd64 -`,
      '',
    ].join('\n');
    expect(parseImageList(out)).toEqual([
      { ref: 'toolruntime-sandbox:latest', digest },
      { ref: 'docker.io/library/busybox:1.36', digest: 'sha256:ffff' },
    ]);
  });

  it('header only or garbage: empty', () => {
    expect(parseImageList('REF TYPE DIGEST SIZE PLATFORMS LABELS\n')).toEqual([]);
    expect(parseImageList('REF TYPE DIGEST SIZE PLATFORMS LABELS\nsomething odd here\n')).toEqual([]);
  });
});

describe('parseSnapshotKeys', () => {
  it('first column after the header', () => {
    expect(parseSnapshotKeys('KEY PARENT KIND\nkx-1 sha256:aa Active\nsha256:bb  Committed\n')).toEqual(['kx-1', 'sha256:bb']);
  });
});

describe('signalFromExitStatus', () => {
  it.each([
    [137, 'SIGKILL'],
    [143, 'SIGTERM'],
    [139, 'SIGSEGV'],
    [134, 'SIGABRT'],
    [159, 'SIGSYS'],
    [129, 'SIGHUP'],
  ])('%d -> %s', (status, sig) => {
    expect(signalFromExitStatus(status)).toBe(sig);
  });

  it.each([0, 1, 2, 127, 128, 255, -1])('%d -> null', (status) => {
    expect(signalFromExitStatus(status)).toBeNull();
  });

  it('null -> null; an unnamed signal number gets SIG<n>', () => {
    expect(signalFromExitStatus(null)).toBeNull();
    expect(signalFromExitStatus(128 + 40)).toBe('SIG40');
  });
});

describe('parseKernelOomLine', () => {
  const line =
    '[ 7047.233101] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=kx-74717ef8a83669e8c20f,mems_allowed=0,oom_memcg=/kata-exec/kx-74717ef8a83669e8c20f,task_memcg=/kata-exec/kx-74717ef8a83669e8c20f,task=exe,pid=15566,uid=65534';

  it('finds our sandbox in a kernel OOM report by its memory cgroup', () => {
    expect(parseKernelOomLine(line, 'kata-exec')).toBe('kx-74717ef8a83669e8c20f');
  });

  it('ignores reports of other namespaces and other lines', () => {
    expect(parseKernelOomLine(line, 'kata-exec-test')).toBeNull();
    expect(parseKernelOomLine('[ 1.0] Memory cgroup out of memory: Killed process 15566 (exe)', 'kata-exec')).toBeNull();
    expect(parseKernelOomLine('[ 1.0] oom-kill:constraint=CONSTRAINT_NONE,task_memcg=/,task=x', 'kata-exec')).toBeNull();
  });
});

describe('parseKernelPidsLine', () => {
  it("finds our sandbox in the kernel's report of a fork its pids cgroup refused", () => {
    expect(parseKernelPidsLine('[ 3955.684932] cgroup: fork rejected by pids controller in /kata-exec-test/kx-55821cbce91a1b0749b9', 'kata-exec-test')).toBe(
      'kx-55821cbce91a1b0749b9',
    );
  });

  it('ignores reports of other namespaces and other lines', () => {
    expect(parseKernelPidsLine('[ 1.0] cgroup: fork rejected by pids controller in /kata-exec-test/kx-1', 'kata-exec')).toBeNull();
    expect(parseKernelPidsLine('[ 1.0] cgroup: fork rejected by pids controller in /system.slice/x.service', 'kata-exec')).toBeNull();
    expect(parseKernelPidsLine('[ 1.0] cgroup: fork rejected by pids controller in /kata-exec', 'kata-exec')).toBeNull();
    expect(parseKernelPidsLine('[ 1.0] oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/kata-exec/kx-1', 'kata-exec')).toBeNull();
  });
});

describe('parsePidsEvents', () => {
  it("reads the max counter: cgroup v1's and v2's pids.events", () => {
    expect(parsePidsEvents('max 0\n')).toBe(0);
    expect(parsePidsEvents('max 12\n')).toBe(12);
  });

  it('null for anything else', () => {
    expect(parsePidsEvents('')).toBeNull();
    expect(parsePidsEvents('max -1\n')).toBeNull();
    expect(parsePidsEvents('maximum 3\n')).toBeNull();
  });
});

describe('classifyCtrError: a runtime failing is not containerd being down', () => {
  it('reads runsc refusing its own control socket as a sandbox failure', () => {
    const line =
      'ctr: failed to kill task: connecting to control server at PID 1234: connection refused: unknown';
    expect(classifyCtrError(line)).not.toBe('daemon_unavailable');
  });
});
