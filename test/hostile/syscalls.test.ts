/**
 * The syscall filter each profile promises, probed from inside real sandboxes: io_uring is
 * closed under every profile on runc (the host kernel's io_uring is a large attack
 * surface), and `hardened` denies what the README's profile table says it denies, on
 * runc's and gVisor's own terms alike, while python, node (threads) and bash still run.
 */
import { describe, expect, it } from 'vitest';
import { execute, profilesOf, testRuntimes } from '../helpers/real-service.js';
import { hostile, useService } from './hostile-case.js';
import { DENIED, SYSCALL_PROBE as PROBE } from '../helpers/hostile-programs.js';

const runtimes = testRuntimes();

describe.each(runtimes)('syscall filters on %s', (runtime) => {
  const svc = useService(runtime);
  const profiles = profilesOf(runtime);
  // runc accepts no hardened; every other runtime runs the tightest profile it has.
  const tightest = runtime === 'runc' ? 'standard' : 'hardened';
  // What it must deny: hardened all five; runc's standard (containerd's default filter, no
  // capabilities) allows ptrace, as Docker's does.
  const mustDeny =
    runtime === 'runc'
      ? ['io_uring_setup', 'unshare_newuser', 'syslog', 'mknod_block']
      : ['io_uring_setup', 'unshare_newuser', 'ptrace_traceme', 'syslog', 'mknod_block'];

  it.each(profiles)('io_uring_setup is denied under the %s profile', async (profile) => {
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code: PROBE, profile }));
    expect(r.status, r.stderr).toBe('ok');
    expect(JSON.parse(r.stdout).io_uring_setup).toMatch(DENIED);
    expect(r.limitsEnforced.seccomp).toBe(true);
  }, 120_000);

  it(`the ${tightest} profile denies ${mustDeny.join(', ')}`, async () => {
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code: PROBE, profile: tightest }));
    expect(r.status, r.stderr).toBe('ok');
    const out = JSON.parse(r.stdout) as Record<string, string>;
    expect(Object.keys(out)).toHaveLength(5);
    for (const name of mustDeny) expect(out[name], name).toMatch(DENIED);
  }, 120_000);

  it(`python, node (with threads) and bash still run under the ${tightest} filter`, async () => {
    const langs = [
      { language: 'python', code: 'import threading\nt = threading.Thread(target=lambda: print("py-thread"))\nt.start(); t.join()', out: 'py-thread\n' },
      {
        language: 'node',
        code: "const { Worker } = require('node:worker_threads');\nnew Worker('require(\"node:worker_threads\").parentPort.postMessage(1)', { eval: true }).on('message', () => console.log('node-worker'));",
        out: 'node-worker\n',
      },
      { language: 'bash', code: 'echo $((6*7)) | cat', out: '42\n' },
    ];
    for (const l of langs) {
      const r = await hostile(svc(), () => execute(svc(), { language: l.language, code: l.code, profile: tightest }));
      expect(r, l.language).toMatchObject({ status: 'ok', stdout: l.out });
    }
  }, 180_000);
});
