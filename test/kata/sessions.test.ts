/**
 * Sessions on real Kata VMs: one VM kept across calls, files that persist and round-trip
 * byte for byte through the launcher inside the VM, links the program made never followed,
 * a call killed at its deadline while the VM lives on, the idle reaper, a service restart
 * between two calls, and nothing of the VM left on the host after DELETE or expiry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NO_LEAKS, settledLeaks, startRealService } from '../helpers/real-service.js';
import { API_KEYS, TOKENS, bearer } from '../helpers/keys.js';
import { call, createSession, deleteSession, readTar, sessionExec } from '../helpers/sessions.js';
import { expectGuestIsVm, GUEST_IDENTITY, leftoversOf, settledLeftoversOf, useKataService, waitFor } from './kata-helpers.js';

const T = 120_000;
const ENV = { KATA_EXEC_TIMEOUT_MS_DEFAULT: String(T), KATA_EXEC_TIMEOUT_MS_MAX: String(T) };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('Kata: sessions', () => {
  const svc = useKataService(ENV);

  it('keeps one VM across calls: files persist, a call ends its processes, files round-trip, links are refused', async () => {
    const s = await createSession(svc().url, { idleTimeoutMs: 300_000 });
    expect(leftoversOf(s.id).some((l) => l.startsWith('process') && l.includes('qemu'))).toBe(true);
    const who = await sessionExec(svc().url, s.id, { language: 'bash', code: `${GUEST_IDENTITY}; echo kept > state.txt; (sleep 1000 &)` });
    expect(who.status, who.stderr).toBe('ok');
    expectGuestIsVm(who.stdout);
    const again = await sessionExec(svc().url, s.id, { language: 'bash', code: 'cat state.txt; pgrep -x sleep | wc -l' });
    expect(again.stdout).toBe('kept\n0\n');

    const bytes = randomBytes(2 << 20);
    expect((await call(svc().url, 'PUT', `/v1/sessions/${s.id}/files/in/blob.bin`, { body: bytes })).status).toBe(200);
    const seen = await sessionExec(svc().url, s.id, { language: 'bash', code: 'sha256sum in/blob.bin | cut -d" " -f1' });
    expect(seen.stdout.trim()).toBe(sha(bytes));
    const back = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/in/blob.bin`);
    expect(sha(back.body)).toBe(sha(bytes));
    const tar = readTar((await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/in`)).body);
    expect(tar.map((e) => e.name)).toEqual(['blob.bin']);

    await sessionExec(svc().url, s.id, { language: 'bash', code: 'ln -s /etc/passwd pw; ln -s / root; ln -s .. up' });
    for (const p of ['pw', 'root/etc/passwd', 'up/etc/passwd']) {
      const g = await call(svc().url, 'GET', `/v1/sessions/${s.id}/files/${p}`);
      expect([p, g.status, g.json?.code]).toEqual([p, 400, 'PATH_NOT_ALLOWED']);
      const w = await call(svc().url, 'PUT', `/v1/sessions/${s.id}/files/${p}`, { body: 'x' });
      expect([p, w.status]).toEqual([p, 400]);
    }

    const t = await sessionExec(svc().url, s.id, { language: 'bash', code: 'echo before; sleep 600', timeoutMs: 3000 });
    expect(t).toMatchObject({ status: 'timeout', stdout: 'before\n' });
    expect((await sessionExec(svc().url, s.id, { language: 'bash', code: 'echo alive' })).stdout).toBe('alive\n');

    await deleteSession(svc().url, s.id);
    expect(await settledLeftoversOf(s.id, 60_000)).toEqual([]);
  });

  it('the reaper ends an idle session and its VM', async () => {
    const s = await createSession(svc().url, { idleTimeoutMs: 3000 });
    await waitFor('the reaper', async () => (await call(svc().url, 'GET', `/v1/sessions/${s.id}`)).status === 404, 60_000);
    expect(await settledLeftoversOf(s.id, 60_000)).toEqual([]);
  });
});

describe('Kata: a session across a service restart', () => {
  it('keeps its VM through a graceful restart; the next service adopts it and runs the second call', async () => {
    const env = { KATA_EXEC_CONCURRENCY: '2', ...ENV };
    const first = await startRealService('kata', env);
    const s = await createSession(first.url, { idleTimeoutMs: 300_000 });
    await sessionExec(first.url, s.id, { language: 'bash', code: 'uname -r > kernel.txt' });
    await first.close();
    expect(leftoversOf(s.id).some((l) => l.includes('qemu'))).toBe(true);

    const second = await startRealService('kata', { ...env, KATA_EXEC_RUN_DIR: first.runDir });
    try {
      const r = await sessionExec(second.url, s.id, { language: 'bash', code: 'cat kernel.txt; uname -r' });
      const [before, now] = r.stdout.trim().split('\n');
      expect(before).toBe(now);
      await deleteSession(second.url, s.id);
      expect(await settledLeftoversOf(s.id, 60_000)).toEqual([]);
    } finally {
      await second.sessions.deleteAll();
      await second.close();
    }
    expect(await settledLeaks(first.runDir)).toEqual(NO_LEAKS);
  });
});

// Its own service (with keys): one service per containerd namespace at a time.
describe('Kata: sessions are their key\'s', () => {
  it("answers another key's session with 404, and the owner's call still runs in its VM", async () => {
    const keyed = await startRealService('kata', { ...ENV, KATA_EXEC_API_KEYS: API_KEYS });
    const [alice, bob] = [bearer(TOKENS.alice), bearer(TOKENS.bob)];
    try {
      const s = await createSession(keyed.url, {}, alice);
      for (const [method, path] of [
        ['GET', `/v1/sessions/${s.id}`],
        ['GET', `/v1/sessions/${s.id}/files?path=`],
        ['DELETE', `/v1/sessions/${s.id}`],
      ] as const) {
        const r = await call(keyed.url, method, path, { headers: bob });
        expect([method, path, r.status, r.json.code]).toEqual([method, path, 404, 'SESSION_NOT_FOUND']);
      }
      const ex = await call(keyed.url, 'POST', `/v1/sessions/${s.id}/execute`, { json: { language: 'bash', code: 'echo x' }, headers: bob });
      expect([ex.status, ex.json.code]).toEqual([404, 'SESSION_NOT_FOUND']);
      expect((await sessionExec(keyed.url, s.id, { language: 'bash', code: 'echo mine' }, alice)).stdout).toBe('mine\n');
      await deleteSession(keyed.url, s.id, alice);
      expect(await settledLeftoversOf(s.id, 60_000)).toEqual([]);
    } finally {
      await keyed.close();
    }
  });
});
