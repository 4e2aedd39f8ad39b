/**
 * Hostile file use: filling the disk, writing to the image, exhausting file descriptors,
 * and leaving files behind for the next execution to find.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { diskBytes } from '../helpers/disk-usage.js';
import { devRuntimes, execute, profilesOf, testContainerd, testRuntimes, type RealService } from '../helpers/real-service.js';
import { hostile, sleep, useService } from './hostile-case.js';

/**
 * Bytes on the host's disk in the directories of the sandboxes this service runs now: each
 * one's work directory and its containerd task bundle (where a runtime would put anything
 * it wrote outside its mounts). Only our own: other tests' directories come and go as
 * they please (a `du` over the whole run directory raced with their deletions), and ours
 * may go while du walks them (diskBytes takes what du saw).
 */
async function sandboxDiskBytes(svc: RealService): Promise<number> {
  const c = testContainerd();
  const ids = await readdir(path.join(svc.runDir, 'work')).catch(() => [] as string[]);
  return diskBytes(
    ids.flatMap((id) => [
      path.join(svc.runDir, 'work', id),
      path.join(c.root, 'run', 'containerd', 'io.containerd.runtime.v2.task', c.namespace, id),
    ]),
  );
}

/**
 * Runs `body` while sampling sandboxDiskBytes; returns its result and the largest growth
 * seen (the program holds what it wrote for a while: teardown removes it). Not the host's
 * free space: on a shared machine other processes move it by more than the 64 MiB at stake.
 */
async function watchingHostDisk<T>(svc: RealService, body: () => Promise<T>): Promise<{ result: T; maxGrowthBytes: number }> {
  let max = 0;
  let samples = 0;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      max = Math.max(max, await sandboxDiskBytes(svc));
      samples++;
      await sleep(100);
    }
  })();
  try {
    const result = await body();
    return { result, maxGrowthBytes: max };
  } finally {
    done = true;
    await sampler;
    // The sampler did look while the program ran.
    expect(samples).toBeGreaterThan(0);
  }
}

const MiB = 1024 * 1024;

/** A search, in a later execution, for files named after the token or holding it. */
const search = (token: string) =>
  [
    `t=${token}`,
    // By name, everywhere but the kernel's own trees.
    'find / \\( -path /proc -o -path /sys \\) -prune -o -name "*$t*" -print 2>/dev/null',
    // By content, everywhere a program could have written (not /code: this script holds the token).
    'grep -rl -D skip "$t" /tmp /dev /run /var/tmp /root /home /etc 2>/dev/null',
    'grep -l -D skip "$t" /* 2>/dev/null',
    'echo searched',
  ].join('\n');

describe.each(testRuntimes())('hostile files on %s', (runtime) => {
  const svc = useService(runtime);
  /** The first sandbox of a fresh containerd unpacks the image (~200 MiB): not the program's doing. */
  const warmUp = async () => {
    for (const profile of profilesOf(runtime).filter((p) => p !== 'hardened')) expect((await execute(svc(), { language: 'bash', code: 'true', profile })).status).toBe('ok');
  };

  it('fills /tmp only up to limits.diskMb: ENOSPC, and the host disk is untouched', async () => {
    await warmUp();
    const { result: r, maxGrowthBytes } = await hostile(svc(), () =>
      watchingHostDisk(svc(), () =>
        execute(svc(), {
          language: 'bash',
          code: 'dd if=/dev/zero of=/tmp/big bs=1M count=64 || { sleep 2; exit 1; }',
          limits: { diskMb: 8 },
          timeoutMs: 30_000,
        }),
      ),
    );
    expect(r.status).toBe('error');
    expect(r.stderr).toContain('No space left');
    expect(r.limits.diskMb).toBe(8);
    expect(r.limitsEnforced.disk).toBe(true);
    expect(maxGrowthBytes).toBeLessThan(32 * MiB);
  }, 120_000);

  it('fills its working directory /code only up to limits.diskMb too: ENOSPC', async () => {
    const r = await hostile(svc(), () =>
      execute(svc(), { language: 'bash', code: 'dd if=/dev/zero of=big bs=1M count=64 2>&1 | head -n 1; pwd; du -m big | cut -f1', limits: { diskMb: 8 }, timeoutMs: 30_000 }),
    );
    expect(r.status).toBe('ok');
    expect(r.stdout).toContain('No space left on device');
    const [cwd, mb] = r.stdout.trim().split('\n').slice(-2);
    expect(cwd).toBe('/code');
    expect(Number(mb)).toBeLessThanOrEqual(8);
  }, 120_000);

  it('cannot write to /, /usr/bin/python3 or /etc/passwd in the standard profile', async () => {
    const code = [
      'import errno, os',
      'for path, mode in [("/newfile", "w"), ("/usr/bin/python3", "ab"), ("/etc/passwd", "a"), ("/etc/newfile", "w")]:',
      '    try:',
      '        open(path, mode).close()',
      '        print(path, "WROTE")',
      '    except OSError as e:',
      '        print(path, errno.errorcode[e.errno], e.strerror)',
      'for op, path in [(os.mkdir, "/newdir"), (os.unlink, "/etc/passwd"), (os.unlink, "/usr/bin/python3")]:',
      '    try:',
      '        op(path)',
      '        print(path, "WROTE")',
      '    except OSError as e:',
      '        print(path, errno.errorcode[e.errno], e.strerror)',
    ].join('\n');
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code }));
    expect(r.status).toBe('ok');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(7);
    for (const line of lines) expect(line).toMatch(/ (EROFS Read-only file system|EACCES Permission denied|EPERM Operation not permitted)$/);
    expect(r.stdout).not.toContain('WROTE');
  }, 120_000);

  it('stops opening files at limits.openFiles with EMFILE', async () => {
    const code = [
      'files = []',
      'try:',
      '    while len(files) < 10000:',
      '        files.append(open("/dev/null"))',
      '    print("no limit")',
      'except OSError as e:',
      '    print(e.errno, len(files))',
    ].join('\n');
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code, limits: { openFiles: 64 } }));
    expect(r.status).toBe('ok');
    expect(r.limits.openFiles).toBe(64);
    const [errno, opened] = r.stdout.trim().split(' ').map(Number);
    expect(errno).toBe(24); // EMFILE
    expect(opened).toBeGreaterThanOrEqual(50);
    expect(opened).toBeLessThanOrEqual(64);
  }, 120_000);

  it('never shows one execution’s files to the next (standard profile: /tmp, /dev/shm)', async () => {
    const token = `kxsecret${randomBytes(8).toString('hex')}`;
    const write = await execute(svc(), {
      language: 'bash',
      code: `echo ${token} > /tmp/secret-${token} && echo ${token} > /dev/shm/secret-${token} && mkdir /tmp/d && echo ${token} > /tmp/d/f && cat /tmp/secret-* /dev/shm/secret-* /tmp/d/f`,
    });
    expect(write).toMatchObject({ status: 'ok', stdout: `${token}\n${token}\n${token}\n` });
    const r = await hostile(svc(), () => execute(svc(), { language: 'bash', code: search(token), timeoutMs: 60_000 }));
    expect(r.stdout).toBe('searched\n');
  }, 120_000);

});

// dev: root inside, over a writable root (an overlay discarded afterwards). runc refuses it.
describe.each(devRuntimes())('hostile files in the dev profile on %s', (runtime) => {
  const svc = useService(runtime);
  const warmUp = async () => {
    for (const profile of profilesOf(runtime).filter((p) => p !== 'hardened')) expect((await execute(svc(), { language: 'bash', code: 'true', profile })).status).toBe('ok');
  };

  // The dev profile's writable root is an overlay whose upper layer is a tmpfs of
  // limits.diskMb: writes to / are bounded like /tmp's and never reach the host disk.
  it('bounds what a dev program writes to its writable root by limits.diskMb too', async () => {
    await warmUp();
    const { result: r, maxGrowthBytes } = await hostile(svc(), () =>
      watchingHostDisk(svc(), () =>
        execute(svc(), {
          language: 'bash',
          code: 'dd if=/dev/zero of=/big bs=1M count=64; rc=$?; sync; sleep 2; exit $rc',
          profile: 'dev',
          limits: { diskMb: 8 },
          timeoutMs: 30_000,
        }),
      ),
    );
    expect(maxGrowthBytes).toBeLessThan(32 * MiB);
    expect(r.status).toBe('error');
    expect(r.stderr).toContain('No space left');
  }, 120_000);

  it('leaves the image intact for the next execution when a dev program clobbers it', async () => {
    const clobber = await execute(svc(), {
      language: 'bash',
      code: ': > /usr/bin/python3 && : > /etc/passwd; echo clobbered; wc -c < /usr/bin/python3',
      profile: 'dev',
    });
    expect(clobber).toMatchObject({ status: 'ok', stdout: 'clobbered\n0\n' });
    const r = await hostile(svc(), () =>
      execute(svc(), { language: 'python', code: 'print(open("/etc/passwd").read().splitlines()[0])', profile: 'dev' }),
    );
    expect(r).toMatchObject({ status: 'ok', stdout: 'root:x:0:0:root:/root:/bin/bash\n' });
  }, 120_000);

  it('never shows one execution’s files to the next (dev profile: /, /root, /etc, /tmp)', async () => {
    const token = `kxsecret${randomBytes(8).toString('hex')}`;
    const paths = [`/secret-${token}`, `/root/secret-${token}`, `/etc/secret-${token}`, `/var/tmp/secret-${token}`, `/tmp/secret-${token}`];
    const write = await execute(svc(), {
      language: 'bash',
      // (`cat`, not `ls`: this gVisor's statx answers EINVAL, so ls fails there.)
      code: `${paths.map((p) => `echo ${token} > ${p}`).join(' && ')} && echo ${token} >> /etc/passwd && cat ${paths.join(' ')} | wc -l`,
      profile: 'dev',
    });
    expect(write).toMatchObject({ status: 'ok', stdout: `${paths.length}\n` });
    const dev = await execute(svc(), { language: 'bash', code: search(token), profile: 'dev', timeoutMs: 60_000 });
    expect(dev.stdout).toBe('searched\n');
    const r = await hostile(svc(), () => execute(svc(), { language: 'bash', code: search(token), timeoutMs: 60_000 }));
    expect(r.stdout).toBe('searched\n');
  }, 120_000);
});
