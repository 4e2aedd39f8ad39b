/**
 * examples/python/session.py run as a user would run it, against the live service (real
 * containerd): a session with a file round trip, deleted at the end.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { API_KEYS, TOKENS } from '../helpers/keys.js';
import { testRuntimes, useService } from '../helpers/real-service.js';

const EXAMPLE = path.resolve(import.meta.dirname, '../../examples/python/session.py');
const runtime = testRuntimes()[0]!;

function run(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('python3', [EXAMPLE], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', ...env }, timeout: 120_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

describe(`examples/python/session.py against the live service (${runtime})`, () => {
  const svc = useService(runtime, { KATA_EXEC_API_KEYS: API_KEYS });

  it('uploads a file, runs on it, downloads the result, sees it in a second call, deletes the session; exits 0', async () => {
    const r = await run({ KATA_EXEC_URL: svc().url, KATA_EXEC_TOKEN: TOKENS.alice });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^session kx-s-[0-9a-f]{20}, expires at \S+$/m);
    expect(r.stdout).toContain('uploaded data/in.csv (35 bytes)');
    expect(r.stdout).toContain('run 1: ok: summarised 3 rows');
    expect(r.stdout).toContain('downloaded out/summary.json: {"n": 3, "total": 122}');
    expect(r.stdout).toContain('run 2 sees it: {"n": 3, "total": 122}');
    expect(r.stdout).toMatch(/deleted\n$/);
    expect(svc().sessions.count).toBe(0);
  });

  it('exits 1 with the code when the service refuses (no token)', async () => {
    const r = await run({ KATA_EXEC_URL: svc().url });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('401 UNAUTHORIZED');
  });
});
