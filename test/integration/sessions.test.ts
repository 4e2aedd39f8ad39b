/**
 * Sessions against the real containerd, on every test runtime: a sandbox that stays up for
 * many calls, files that persist and round-trip byte for byte through the launcher, a
 * call's processes that end with it (background ones aside), the reaper, the per-key limits
 * and the cross-key 404, symbolic-link attacks on every file route, a service restart
 * between two calls, and nothing left on the host after DELETE or expiry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { containerIds, counter, ctr, NO_LEAKS, settledLeaks, startRealService, testContainerd, testRuntimes, useService } from '../helpers/real-service.js';
import { Executor } from '../../src/execution/executor.js';
import { KILL_FRAME } from '../../src/sandbox/session-protocol.js';
import { spawnService, type ServiceProcess } from '../helpers/service-process.js';
import { API_KEYS, TOKENS, bearer } from '../helpers/keys.js';
import { call, createSession, deleteSession, readTar, sessionExec } from '../helpers/sessions.js';
import { parseSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

const alice = bearer(TOKENS.alice);
const bob = bearer(TOKENS.bob);

describe.each(testRuntimes())('sessions on %s', (runtime) => {
  const env = { KATA_EXEC_API_KEYS: API_KEYS, KATA_EXEC_SESSIONS_PER_KEY: '3', KATA_EXEC_SESSION_FILE_MAX_BYTES: String(4 << 20) };
  // A failed test leaves no session to the next one's limits.
  const svc = useService(runtime, env, { sessionsEach: true });

  it('keeps files between calls, ends a call\'s processes with it, and states its expiry everywhere', async () => {
    const s = await createSession(svc().url, { idleTimeoutMs: 60_000, maxLifetimeMs: 120_000 }, alice);
    expect(s.id).toMatch(/^kx-s-/);
    expect(Date.parse(s.expiresAt)).toBeGreaterThan(Date.now());
    expect(Date.parse(s.maxExpiresAt) - Date.parse(s.createdAt)).toBe(120_000);
    expect(containerIds()).toContain(s.id);

    const a = await sessionExec(
      svc().url,
      s.id,
      { language: 'bash', code: 'echo kept > state.txt; (sleep 1000 &); nohup sleep 999 >/dev/null 2>&1 & echo started' },
      alice,
    );
    expect(a).toMatchObject({ status: 'ok', exitCode: 0, stdout: 'started\n', session: { id: s.id } });
    expect(a.usage).not.toBeNull();
    const b = await sessionExec(svc().url, s.id, { language: 'python', code: 'import os\nprint(open("state.txt").read().strip(), sorted(os.listdir(".")))\nprint(len([p for p in os.listdir("/proc") if p.isdigit() and "sleep" in open(f"/proc/{p}/cmdline").read()]))' }, alice);
    expect(b.status).toBe('ok');
    // The file stayed; the sleeps of the first call did not.
    expect(b.stdout).toBe("kept ['main.py', 'main.sh', 'state.txt']\n0\n");

    const got = await call(svc().url, 'GET', `/v1/sessions/${s.id}`, { headers: alice });
    expect(got.status).toBe(200);
    expect(got.headers['x-session-expires-at']).toBe(got.json.expiresAt);
    expect(Date.parse(got.json.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(s.lastUsedAt));
    const list = await call(svc().url, 'GET', '/v1/sessions', { headers: alice });
    expect(list.json.sessions.map((x: any) => x.id)).toContain(s.id);
    const info = await call(svc().url, 'GET', '/v1/runtimes', { headers: alice });
    expect(info.json.sessions).toMatchObject({ perKey: 3, fileMaxBytes: 4 << 20, idleTimeoutMs: { default: 600_000, max: 3_600_000 } });
    await deleteSession(svc().url, s.id, alice);
    expect((await call(svc().url, 'GET', `/v1/sessions/${s.id}`, { headers: alice })).status).toBe(404);
    await waitFor('its container to be gone', () => !containerIds().includes(s.id));
  });

  it('kills a call at its deadline and stays usable; streams like /v1/execute', async () => {
    const s = await createSession(svc().url, {}, alice);
    const t = await sessionExec(svc().url, s.id, { language: 'bash', code: 'echo before; sleep 30', timeoutMs: 1500 }, alice);
    expect(t).toMatchObject({ status: 'timeout', stdout: 'before\n' });
    expect(t.durationMs).toBeLessThan(8000);
    const after = await sessionExec(svc().url, s.id, { language: 'bash', code: 'echo alive' }, alice);
    expect(after).toMatchObject({ status: 'ok', stdout: 'alive\n' });

    const r = await call(svc().url, 'POST', `/v1/sessions/${s.id}/execute`, {
      json: { language: 'python', code: 'print("a", flush=True)\nprint("b")' },
      headers: { ...alice, accept: 'text/event-stream' },
    });
    expect(r.status).toBe(200);
    const events = parseSse(r.body.toString('utf8'));
    expect(events[0]!.event).toBe('start');
    expect(events.at(-1)).toMatchObject({ event: 'result', data: { status: 'ok', stdout: 'a\nb\n', session: { id: s.id } } });
    await deleteSession(svc().url, s.id, alice);
  });

  it('round-trips files byte for byte, lists them, archives a directory and deletes', async () => {
    const s = await createSession(svc().url, {}, alice);
    // Exactly the documented maximum (KATA_EXEC_SESSION_FILE_MAX_BYTES, 4 MiB here) goes up
    // and comes down byte for byte; one byte more is refused.
    const max = randomBytes(4 << 20);
    expect((await call(svc().url, 'PUT', `/v1/sessions/${s.id}/files/edge/max.bin`, { body: max, headers: alice })).status).toBe(200);
    const maxBack = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/edge/max.bin`, { headers: alice });
    expect(maxBack.status).toBe(200);
    expect(Buffer.compare(maxBack.body, max)).toBe(0);
    expect((await call(svc().url, 'DELETE', `/v1/sessions/${s.id}/files/edge/max.bin`, { headers: alice })).status).toBe(200);
    const over = await call(svc().url, 'PUT', `/v1/sessions/${s.id}/files/edge/over.bin`, { body: randomBytes((4 << 20) + 1), headers: alice });
    expect(over.status, JSON.stringify(over.json)).toBe(413);
    const bytes = randomBytes(3 << 20);
    const put = await call(svc().url, 'PUT', `/v1/sessions/${s.id}/files/data/blob.bin`, { body: bytes, headers: alice });
    expect(put.status, JSON.stringify(put.json)).toBe(200);
    expect(put.json).toMatchObject({ path: 'data/blob.bin', size: bytes.length, session: { id: s.id } });
    const got = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/data/blob.bin`, { headers: alice });
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('application/octet-stream');
    expect(got.headers['x-session-expires-at']).toBeTruthy();
    expect(createHash('sha256').update(got.body).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));

    // The program sees the upload and writes its own.
    const r = await sessionExec(svc().url, s.id, { language: 'python', code: 'import hashlib\nd=open("data/blob.bin","rb").read()\nprint(len(d))\nopen("data/out.json","w").write("{\\"ok\\": true}")' }, alice);
    expect(r.stdout).toBe(`${bytes.length}\n`);
    const json = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/data/out.json`, { headers: alice });
    expect(json.headers['content-type']).toBe('application/json');
    expect(json.json).toEqual({ ok: true });

    const list = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files?path=data`, { headers: alice });
    expect(list.status).toBe(200);
    expect(list.json.entries.map((e: any) => [e.path, e.type, e.size])).toEqual([
      ['data/blob.bin', 'file', bytes.length],
      ['data/out.json', 'file', 12],
    ]);
    const all = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files?recursive=true`, { headers: alice });
    expect(all.json.entries.map((e: any) => e.path)).toEqual(expect.arrayContaining(['data', 'data/blob.bin', 'main.py']));

    const tar = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/data`, { headers: alice });
    expect(tar.status).toBe(200);
    expect(tar.headers['content-type']).toBe('application/x-tar');
    const entries = readTar(tar.body);
    expect(entries.map((e) => e.name).sort()).toEqual(['blob.bin', 'out.json']);
    expect(entries.find((e) => e.name === 'blob.bin')!.content.equals(bytes)).toBe(true);
    const whole = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files?format=tar`, { headers: alice });
    expect(readTar(whole.body).map((e) => e.name)).toEqual(expect.arrayContaining(['data/', 'data/blob.bin', 'main.py']));

    expect((await call(svc().url, 'DELETE', `/v1/sessions/${s.id}/files/data/out.json`, { headers: alice })).status).toBe(200);
    const gone = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/data/out.json`, { headers: alice });
    expect(gone.status).toBe(404);
    expect(gone.json.code).toBe('FILE_NOT_FOUND');
    expect((await call(svc().url, 'DELETE', `/v1/sessions/${s.id}/files/data`, { headers: alice })).status).toBe(200);
    expect((await call(svc().url, 'GET', `/v1/sessions/${s.id}/files?path=data`, { headers: alice })).json.code).toBe('FILE_NOT_FOUND');

    // Limits and rules: too large, bad paths, an upload onto a directory.
    const big = await call(svc().url, 'PUT', `/v1/sessions/${s.id}/files/big.bin`, { body: Buffer.alloc((4 << 20) + 1), headers: alice });
    expect(big.status).toBe(413);
    for (const bad of ['..%2Fx', '%2Fetc%2Fpasswd', 'a//b', 'a%2F..%2F..%2Fx']) {
      const r2 = await call(svc().url, 'PUT', `/v1/sessions/${s.id}/files/${bad}`, { body: 'x', headers: alice });
      expect(r2.status, bad).toBe(400);
    }
    await sessionExec(svc().url, s.id, { language: 'bash', code: 'mkdir -p adir' }, alice);
    const ontoDir = await call(svc().url, 'PUT', `/v1/sessions/${s.id}/files/adir`, { body: 'x', headers: alice });
    expect([ontoDir.status, ontoDir.json.code]).toEqual([409, 'NOT_A_FILE']);
    // A file larger than what one request may move does not come down either.
    await sessionExec(svc().url, s.id, { language: 'bash', code: 'head -c 5000000 /dev/zero > huge' }, alice);
    const huge = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/huge`, { headers: alice });
    expect([huge.status, huge.json.code]).toEqual([413, 'FILE_TOO_LARGE']);
    await deleteSession(svc().url, s.id, alice);
  });

  it('never follows a link the program made: to /etc/passwd, to /, to .., through a directory', async () => {
    const s = await createSession(svc().url, {}, alice);
    const hostPasswd = readFileSync('/etc/passwd');
    await sessionExec(
      svc().url,
      s.id,
      { language: 'bash', code: 'ln -s /etc/passwd pw; ln -s / root; ln -s .. up; mkdir d; ln -s /etc d/etc; ln -s /tmp/kx-canary-dir canary; ln -s /tmp/made-by-put dangling; echo ok' },
      alice,
    );
    const cases = ['pw', 'root/etc/passwd', 'up/etc/passwd', 'd/etc/passwd', 'd/etc', 'root', 'up', 'canary/x', 'dangling'];
    for (const p of cases) {
      const g = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/${p}`, { headers: alice });
      expect([p, g.status, g.json?.code]).toEqual([p, 400, 'PATH_NOT_ALLOWED']);
      expect(g.body.includes(Buffer.from('root:x:0:0'))).toBe(false);
      const w = await call(svc().url, 'PUT', `/v1/sessions/${s.id}/files/${p}`, { body: 'pwned\n', headers: alice });
      expect([p, w.status, w.json?.code]).toEqual([p, 400, 'PATH_NOT_ALLOWED']);
      const l = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files?path=${p}`, { headers: alice });
      expect([p, l.status, l.json?.code]).toEqual([p, 400, 'PATH_NOT_ALLOWED']);
      const t = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files?path=${p}&format=tar`, { headers: alice });
      expect([p, t.status]).toEqual([p, 400]);
    }
    // The archive of the workspace holds the links as links, never what they point at.
    const tar = readTar((await call(svc().url, 'GET', `/v1/sessions/${s.id}/files?format=tar`, { headers: alice })).body);
    expect(tar.filter((e) => e.type === '2').map((e) => [e.name, e.link]).sort()).toEqual([
      ['canary', '/tmp/kx-canary-dir'],
      ['d/etc', '/etc'],
      ['dangling', '/tmp/made-by-put'],
      ['pw', '/etc/passwd'],
      ['root', '/'],
      ['up', '..'],
    ]);
    expect(tar.some((e) => e.content.includes(Buffer.from('root:x:0:0')))).toBe(false);
    // DELETE of a link removes the link, never its target.
    expect((await call(svc().url, 'DELETE', `/v1/sessions/${s.id}/files/root`, { headers: alice })).status).toBe(200);
    expect((await call(svc().url, 'DELETE', `/v1/sessions/${s.id}/files/root/etc/passwd`, { headers: alice })).status).toBe(404);
    const still = await sessionExec(
      svc().url,
      s.id,
      { language: 'bash', code: 'test -f /etc/passwd && echo /etc/passwd; readlink pw; [ -e root ] || echo no-root-link; [ -e /tmp/made-by-put ] || echo not-made; grep -c pwned /etc/passwd' },
      alice,
    );
    expect(still.stdout).toBe('/etc/passwd\n/etc/passwd\nno-root-link\nnot-made\n0\n');
    // Nothing reached the host.
    expect(readFileSync('/etc/passwd').equals(hostPasswd)).toBe(true);
    expect(existsSync('/tmp/kx-canary-dir')).toBe(false);
    await deleteSession(svc().url, s.id, alice);
  });

  it("answers another key's session with 404, and limits sessions per key (429 with Retry-After)", async () => {
    const s = await createSession(svc().url, {}, alice);
    for (const [method, path] of [
      ['GET', `/v1/sessions/${s.id}`],
      ['DELETE', `/v1/sessions/${s.id}`],
      ['GET', `/v1/sessions/${s.id}/files?path=`],
      ['GET', `/v1/sessions/${s.id}/files/main.sh`],
    ] as const) {
      const r = await call(svc().url, method, path, { headers: bob });
      expect([method, path, r.status, r.json.code]).toEqual([method, path, 404, 'SESSION_NOT_FOUND']);
    }
    const ex = await call(svc().url, 'POST', `/v1/sessions/${s.id}/execute`, { json: { language: 'bash', code: 'echo x' }, headers: bob });
    expect([ex.status, ex.json.code]).toEqual([404, 'SESSION_NOT_FOUND']);
    const put = await call(svc().url, 'PUT', `/v1/sessions/${s.id}/files/x`, { body: 'x', headers: bob });
    expect([put.status, put.json.code]).toEqual([404, 'SESSION_NOT_FOUND']);
    expect((await call(svc().url, 'GET', '/v1/sessions', { headers: bob })).json.sessions).toEqual([]);
    expect((await call(svc().url, 'GET', `/v1/sessions/${s.id}`)).status).toBe(401);

    const more = [await createSession(svc().url, {}, alice), await createSession(svc().url, {}, alice)];
    const over = await call(svc().url, 'POST', '/v1/sessions', { json: {}, headers: alice });
    expect([over.status, over.json.code]).toEqual([429, 'SESSION_LIMIT']);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    // Bob's own quota is untouched.
    const b = await createSession(svc().url, {}, bob);
    for (const x of [s, ...more]) await deleteSession(svc().url, x.id, alice);
    await deleteSession(svc().url, b.id, bob);
  });

  it('runs background processes that outlive the call, lists and stops them', async () => {
    const s = await createSession(svc().url, {}, alice);
    const p = await call(svc().url, 'POST', `/v1/sessions/${s.id}/processes`, {
      // Two lines, the second read by bash after the first's second: the call that follows
      // writes its own `code` meanwhile, which must not become this script's rest.
      json: { language: 'bash', code: 'sleep 1\nwhile true; do echo tick; sleep 0.2; done', logFile: 'bg.log' },
      headers: alice,
    });
    expect(p.status, JSON.stringify(p.json)).toBe(201);
    expect(p.json).toMatchObject({ id: 1, running: true, session: { id: s.id } });
    await sessionExec(svc().url, s.id, { language: 'bash', code: 'echo call' }, alice);
    await waitFor('its log to grow', async () => {
      const r = await sessionExec(svc().url, s.id, { language: 'bash', code: 'wc -l < bg.log' }, alice);
      return Number(r.stdout) >= 3;
    }).catch(async (err: unknown) => {
      const ps = await sessionExec(svc().url, s.id, { language: 'bash', code: 'ps -eo pid,ppid,args; cat bg.log | tail -3' }, alice);
      const l = await call(svc().url, 'GET', `/v1/sessions/${s.id}/processes`, { headers: alice });
      throw new Error(`${String(err)}; processes: ${JSON.stringify(l.json)}; ps: ${ps.stdout}`);
    });
    const log = await sessionExec(svc().url, s.id, { language: 'bash', code: 'sort -u bg.log' }, alice);
    expect(log.stdout).toBe('tick\n');
    const l = await call(svc().url, 'GET', `/v1/sessions/${s.id}/processes`, { headers: alice });
    expect(l.json.processes).toEqual([expect.objectContaining({ id: 1, running: true, exitCode: null })]);
    expect((await call(svc().url, 'DELETE', `/v1/sessions/${s.id}/processes/1`, { headers: alice })).status).toBe(200);
    const after = await call(svc().url, 'GET', `/v1/sessions/${s.id}/processes`, { headers: alice });
    expect(after.json.processes).toEqual([expect.objectContaining({ id: 1, running: false })]);
    const n1 = (await sessionExec(svc().url, s.id, { language: 'bash', code: 'wc -l < bg.log' }, alice)).stdout;
    await new Promise((r) => setTimeout(r, 600));
    expect((await sessionExec(svc().url, s.id, { language: 'bash', code: 'wc -l < bg.log' }, alice)).stdout).toBe(n1);
    expect((await call(svc().url, 'DELETE', `/v1/sessions/${s.id}/processes/7`, { headers: alice })).status).toBe(404);
    await deleteSession(svc().url, s.id, alice);
  });

  it("a program cannot reach its session's launcher: not its socket, not a signal, not its descriptors", async () => {
    const s = await createSession(svc().url, {}, alice);
    const code = [
      'import os, socket, signal',
      'def attempt(name, fn):',
      '    try:',
      '        fn()',
      '        print(name, "REACHED")',
      '    except OSError as e:',
      '        print(name, type(e).__name__)',
      'def connect(p):',
      '    s = socket.socket(socket.AF_UNIX)',
      '    s.connect(p)',
      'attempt("socket", lambda: connect("/run/kx-launch/sock"))',
      'attempt("listdir", lambda: os.listdir("/run/kx-launch"))',
      'attempt("fallback", lambda: connect("/tmp/.kx-launch/sock"))',
      // gVisor lets another uid list and readlink /proc/1/fd and open the launcher's stdio,
      // which is /dev/null (--null-io): its channel (sockets, pipes) must never open.
      'try:',
      '    fds = {f: os.readlink(f"/proc/1/fd/{f}") for f in os.listdir("/proc/1/fd")}',
      'except OSError as e:',
      '    fds = {}',
      '    print("fds", type(e).__name__)',
      'for f, what in fds.items():',
      '    if what.startswith(("socket:", "pipe:")): attempt(f"channel {what}", lambda: open(f"/proc/1/fd/{f}", "rb"))',
      '    else: attempt(f"stdio {what}", lambda: open(f"/proc/1/fd/{f}", "rb"))',
      'attempt("kill", lambda: os.kill(1, signal.SIGKILL))',
      'pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and "--attach" in open(f"/proc/{p}/cmdline").read().replace("\\0", " ")]',
      'print("attach", len(pids))',
      'for p in pids: attempt("kill-attach", lambda: os.kill(p, signal.SIGKILL))',
    ].join('\n');
    const r = await sessionExec(svc().url, s.id, { language: 'python', code }, alice);
    expect(r.status, r.stderr).toBe('ok');
    const lines: string[] = r.stdout.trim().split('\n');
    expect(lines.filter((l) => l.endsWith('REACHED') && !l.startsWith('stdio '))).toEqual([]);
    // Its stdio, where another uid may open it (gVisor), is /dev/null.
    for (const l of lines.filter((x) => x.startsWith('stdio ') && x.endsWith('REACHED'))) expect(runtime, l).toBe('gvisor');
    expect(lines).toContain('attach 1');
    expect(lines).toContain('kill PermissionError');
    expect(lines).toContain('kill-attach PermissionError');
    // The session goes on.
    expect((await sessionExec(svc().url, s.id, { language: 'bash', code: 'echo still' }, alice)).stdout).toBe('still\n');
  });

  // The service sends its kill frame (K) when a call's deadline, output cap or caller ends
  // it; the program may end at the same instant, so that K reaches the launcher after the
  // call's end frame, between calls. There it is a kill for nothing: the connection stays, and
  // the next call (its deadline op first) goes through it. (It once closed the connection: the
  // next call failed, or reattached.) Sent here by hand, right after a call, through the real
  // session runner: the crossing made certain.
  it('a kill frame that crosses its call\'s end is a kill for nothing: the next call uses the same connection', async () => {
    const runner = svc().backend.sessionRunner;
    const executor = new Executor({ config: svc().config, runtime: svc().backend.runtime, runner: svc().backend.runner, instanceId: 'sessions-test' });
    const call = (code: string) => executor.prepare({ language: 'bash', code }).spec;
    const s = await runner.create(call(''));
    try {
      expect((await runner.run(s, call('echo one'))).stdout.data.toString()).toBe('one\n');
      const connection = s.attach;
      expect(connection?.alive).toBe(true);
      connection!.send(KILL_FRAME);
      const two = await runner.run(s, call('echo two'));
      expect({ out: two.stdout.data.toString(), exit: two.exitCode, dead: s.dead }).toEqual({ out: 'two\n', exit: 0, dead: null });
      expect(s.attach).toBe(connection);
      expect(connection!.alive).toBe(true);
    } finally {
      await runner.destroy(s);
    }
  });

  it("a session whose sandbox died is 410 SESSION_GONE to its owner, at the call that finds it and after; 404 to another key", async () => {
    const s = await createSession(svc().url, {}, alice);
    expect((await sessionExec(svc().url, s.id, { language: 'bash', code: 'echo up' }, alice)).stdout).toBe('up\n');
    // From the host, as an OOM kill of the whole sandbox or a crashed VM would end it.
    ctr(['tasks', 'kill', '--signal', 'SIGKILL', s.id]);
    await waitFor('its task to stop', () => !ctr(['tasks', 'list']).split('\n').some((l) => l.startsWith(`${s.id} `) && l.includes('RUNNING')));
    const found = await call(svc().url, 'POST', `/v1/sessions/${s.id}/execute`, { json: { language: 'bash', code: 'echo again' }, headers: alice });
    const after = await call(svc().url, 'GET', `/v1/sessions/${s.id}`, { headers: alice });
    const file = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/a.txt`, { headers: alice });
    const theirs = await call(svc().url, 'GET', `/v1/sessions/${s.id}`, { headers: bob });
    expect([found, after, file, theirs].map((r) => [r.status, r.json?.code])).toEqual([
      [410, 'SESSION_GONE'],
      [410, 'SESSION_GONE'],
      [410, 'SESSION_GONE'],
      [404, 'SESSION_NOT_FOUND'],
    ]);
    await waitFor('its container to be gone', () => !containerIds().includes(s.id));
  });

  it('reaps an idle session: nothing of it is left', async () => {
    const expired = await counter(svc(), 'kata_exec_sessions_expired_total', 'reason="idle"');
    const s = await createSession(svc().url, { idleTimeoutMs: 1500 }, alice);
    await sessionExec(svc().url, s.id, { language: 'bash', code: 'echo x > f' }, alice);
    await waitFor('the reaper', async () => (await call(svc().url, 'GET', `/v1/sessions/${s.id}`, { headers: alice })).status === 404, 15_000);
    await waitFor('its container to be gone', () => !containerIds().includes(s.id));
    expect(await counter(svc(), 'kata_exec_sessions_expired_total', 'reason="idle"')).toBe(expired + 1);
    expect(await counter(svc(), 'kata_exec_sessions_created_total')).toBeGreaterThan(0);
  });
});

describe.each(testRuntimes())('a session across a service restart on %s', (runtime) => {
  it('survives a graceful restart between two calls; expired ones are reaped at start', async () => {
    const env = { KATA_EXEC_API_KEYS: API_KEYS };
    const first = await startRealService(runtime, env);
    const s = await createSession(first.url, { idleTimeoutMs: 120_000 }, alice);
    const doomed = await createSession(first.url, { maxLifetimeMs: 2000 }, alice);
    await sessionExec(first.url, s.id, { language: 'bash', code: 'echo before-restart > note; (sleep 1000 &) ; echo ok' }, alice);
    const put = await call(first.url, 'PUT', `/v1/sessions/${s.id}/files/up.bin`, { body: Buffer.from([0, 1, 2, 255]), headers: alice });
    expect(put.status).toBe(200);
    await first.close();
    // Graceful shutdown keeps the live sessions (and the one not yet expired).
    expect(containerIds()).toContain(s.id);
    await new Promise((r) => setTimeout(r, 2100));

    const second = await startRealService(runtime, { ...env, KATA_EXEC_RUN_DIR: first.runDir });
    try {
      expect(await counter(second, 'kata_exec_sessions_adopted_total')).toBe(1);
      expect(await counter(second, 'kata_exec_sessions_reaped_total', 'reason="restart"')).toBe(1);
      expect(containerIds()).not.toContain(doomed.id);
      const got = await call(second.url, 'GET', `/v1/sessions/${s.id}`, { headers: alice });
      expect(got.status).toBe(200);
      expect(got.json.id).toBe(s.id);
      expect((await call(second.url, 'GET', `/v1/sessions/${s.id}`, { headers: bob })).status).toBe(404);
      const r = await sessionExec(second.url, s.id, { language: 'bash', code: 'cat note; od -An -tu1 up.bin | tr -s " "' }, alice);
      expect(r).toMatchObject({ status: 'ok', stdout: 'before-restart\n 0 1 2 255\n' });
      const file = await call(second.url, 'GET', `/v1/sessions/${s.id}/files/note`, { headers: alice });
      expect(file.body.toString()).toBe('before-restart\n');
      await deleteSession(second.url, s.id, alice);
    } finally {
      await second.sessions.deleteAll();
      await second.close();
    }
    expect(await settledLeaks(first.runDir)).toEqual(NO_LEAKS);
  });
});

/** How many processes the sandbox's task has (ctr tasks ps). */
function taskProcesses(id: string): number {
  return ctr(['tasks', 'ps', id]).trim().split('\n').length - 1;
}

describe.each(testRuntimes())('a session across a kill -9 of the service on %s', (runtime) => {
  const procs: ServiceProcess[] = [];
  afterAll(() => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });

  it('survives the service dying in the middle of a call: the next process adopts it, the orphaned call is ended', async () => {
    const c = testContainerd();
    const runDir = path.join(c.root, `svc-session-kill9-${runtime}`);
    const env = {
      KATA_EXEC_CONTAINERD_ADDRESS: c.address,
      KATA_EXEC_NAMESPACE: c.namespace,
      KATA_EXEC_RUNTIME: runtime,
      KATA_EXEC_RUN_DIR: runDir,
      KATA_EXEC_STATE_DIR: path.join(c.root, 'state'),
      KATA_EXEC_POOL_SIZE: '0',
      KATA_EXEC_KEY_CONCURRENCY: '0',
      PATH: process.env.PATH ?? '',
    };
    const first = await spawnService(env);
    procs.push(first);
    const s = await createSession(first.url, { idleTimeoutMs: 120_000 });
    await sessionExec(first.url, s.id, { language: 'bash', code: 'echo kept > note' });
    const orphan = call(first.url, 'POST', `/v1/sessions/${s.id}/execute`, { json: { language: 'bash', code: 'echo orphan > orphan.txt; sleep 300', timeoutMs: 3000 } }).catch((e: unknown) => e);
    await waitFor('the orphan call to run', async () => {
      const l = await call(first.url, 'GET', `/v1/sessions/${s.id}`).catch(() => null);
      return l !== null && Date.parse(l.json.lastUsedAt) > Date.parse(s.lastUsedAt);
    });
    await new Promise((r) => setTimeout(r, 500));
    const during = taskProcesses(s.id);
    first.child.kill('SIGKILL');
    await first.exited;
    await orphan;
    // With no service at all, the launcher ends the orphaned call at its own deadline.
    await waitFor('the orphaned call to end by its deadline', () => taskProcesses(s.id) < during, 20_000);

    const second = await spawnService(env);
    procs.push(second);
    const r = await sessionExec(second.url, s.id, { language: 'bash', code: 'cat note orphan.txt; pgrep -x sleep | wc -l' }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${second.logs.filter((l) => /could not attach|error/i.test(l)).join('\n').slice(-3000)}`);
    });
    expect(r).toMatchObject({ status: 'ok', stdout: 'kept\norphan\n0\n' });
    await deleteSession(second.url, s.id);
    second.child.kill('SIGTERM');
    await second.exited;
    expect(await settledLeaks(runDir)).toEqual(NO_LEAKS);
  });
});
