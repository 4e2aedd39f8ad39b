/**
 * The API of issue 5 against the real containerd, on every runtime of TEST_RUNTIMES: stdin,
 * args, env, several files, base64, GET /v1/runtimes, streaming over real HTTP, a client
 * that goes away, and API keys. The service runs with KATA_EXEC_API_KEYS, so every call
 * here carries a bearer token, as a real client's would.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ExecuteResult } from '../../src/schemas/execute.js';
import type { RuntimesInfo } from '../../src/schemas/runtimes.js';
import { getJson, postJson, postStream } from '../helpers/http.js';
import { API_KEYS, TOKENS } from '../helpers/keys.js';
import { containerIds, NO_LEAKS, settledLeaks, testRuntimes, useService } from '../helpers/real-service.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = TOKENS.alice;

describe.each(testRuntimes())('API on %s', (runtime) => {
  const svc = useService(runtime, { KATA_EXEC_API_KEYS: API_KEYS }, { leaksEach: true });

  async function run(body: Record<string, unknown>): Promise<ExecuteResult> {
    const r = await postJson<ExecuteResult>(svc().url, body, TOKEN);
    if (r.status !== 200) throw new Error(`expected 200, got ${r.status}: ${JSON.stringify(r.json)}`);
    return r.json;
  }


  describe('API keys over real HTTP', () => {
    it('401 UNAUTHORIZED with WWW-Authenticate without a key or with a wrong one; 200 with the right one', async () => {
      const body = { language: 'bash', code: 'echo hi' };
      for (const token of [undefined, 'kx_wrong']) {
        const r = await postJson(svc().url, body, token);
        expect(r.status).toBe(401);
        expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
        expect(r.json).toMatchObject({ status: 401, code: 'UNAUTHORIZED', type: 'urn:kata-exec:error:unauthorized' });
      }
      expect((await getJson(svc().url, '/v1/runtimes')).status).toBe(401);
      const ok = await postJson<ExecuteResult>(svc().url, body, TOKENS.bob);
      expect(ok.status).toBe(200);
      expect(ok.json.stdout).toBe('hi\n');
      // The probes stay open.
      expect((await getJson(svc().url, '/readyz')).status).toBe(200);
    });
  });

  describe('request fields', () => {
    it('feeds stdin to the program (read line by line)', async () => {
      const py = await run({ language: 'python', code: 'import sys\na = sys.stdin.readline()\nb = sys.stdin.readline()\nprint(repr(a + b))', stdin: 'hello\nwörld\n' });
      expect(py).toMatchObject({ status: 'ok', stdout: "'hello\\nwörld\\n'\n" });
      const sh = await run({ language: 'bash', code: 'read -r a; read -r b; echo "got:$a,$b"', stdin: 'a\nb\n' });
      expect(sh.stdout).toBe('got:a,b\n');
      const js = await run({ language: 'javascript', code: 'process.stdin.once("data", (d) => { console.log(JSON.stringify(String(d))); process.exit(0); });', stdin: 'x y\n' });
      expect(js.stdout).toBe('"x y\\n"\n');
    });

    // stdin travels in the launcher's request and reaches the program as an in-memory file:
    // ctr's own stdin stays open (it carries the request), so no end of file is lost.
    it('feeds stdin to the program up to end of file', async () => {
      const py = await run({ language: 'python', code: 'import sys\nprint(repr(sys.stdin.read()))', stdin: 'hello\nwörld\n', timeoutMs: 5000 });
      expect(py).toMatchObject({ status: 'ok', stdout: "'hello\\nwörld\\n'\n" });
    });

    // Without stdin the program reads end of file at once.
    it('without stdin, a program reading it gets end of file at once', async () => {
      const none = await run({ language: 'python', code: 'import sys\nprint(len(sys.stdin.read()))', timeoutMs: 5000 });
      expect(none).toMatchObject({ status: 'ok', stdout: '0\n' });
    });

    it('passes args to the program, unchanged and without a shell', async () => {
      const args = ['a', 'b c', '$HOME', '*', '--x=1', ''];
      const py = await run({ language: 'python', code: 'import sys, json\nprint(json.dumps(sys.argv[1:]))', args });
      expect(JSON.parse(py.stdout)).toEqual(args);
      const js = await run({ language: 'javascript', code: 'console.log(JSON.stringify(process.argv.slice(2)))', args });
      expect(JSON.parse(js.stdout)).toEqual(args);
      const sh = await run({ language: 'bash', code: 'echo "$#"; printf "[%s]\\n" "$@"', args: ['x y', 'z'] });
      expect(sh.stdout).toBe('2\n[x y]\n[z]\n');
    });

    it('sets env on top of the sandbox\'s own variables, and none of the service\'s reach it', async () => {
      const r = await run({
        language: 'python',
        code: 'import os, json\nprint(json.dumps(dict(os.environ)))',
        env: { FOO: 'bar', WITH_SPACE: 'a b=c', EMPTY: '' },
      });
      const env = JSON.parse(r.stdout) as Record<string, string>;
      expect(env).toMatchObject({ FOO: 'bar', WITH_SPACE: 'a b=c', EMPTY: '', HOME: '/tmp', TMPDIR: '/tmp', LANG: 'C.UTF-8' });
      expect(env.PATH).toMatch(/\/usr\/bin/);
      expect(Object.keys(env).filter((k) => k.startsWith('KATA_EXEC') || k.startsWith('npm_') || k === 'VITEST')).toEqual([]);
      const refused = await postJson(svc().url, { language: 'python', code: '1', env: { PATH: '/evil' } }, TOKEN);
      expect(refused.status).toBe(400);
      expect(refused.json.errors.map((e: { path: string }) => e.path)).toEqual(['/env/PATH']);
    });

    it('runs several python files with a nested package import', async () => {
      const r = await run({
        language: 'python',
        files: [
          { path: 'main.py', content: 'from pkg.sub.util import double\nfrom pkg import NAME\nprint(NAME, double(21))' },
          { path: 'pkg/__init__.py', content: 'NAME = "pkg"' },
          { path: 'pkg/sub/__init__.py', content: '' },
          { path: 'pkg/sub/util.py', content: 'def double(x):\n    return 2 * x' },
        ],
      });
      expect(r).toMatchObject({ status: 'ok', stdout: 'pkg 42\n', stderr: '' });
    });

    it('runs several node files: require of a relative file, with an entrypoint in a subdirectory', async () => {
      const r = await run({
        language: 'javascript',
        files: [
          { path: 'lib/math.js', content: 'exports.double = (x) => 2 * x;' },
          { path: 'src/app.js', content: 'const { double } = require("../lib/math.js");\nconst { name } = require("./name");\nconsole.log(name, double(21), process.argv.slice(2).join(","));' },
          { path: 'src/name.js', content: 'module.exports = { name: "node" };' },
        ],
        entrypoint: 'src/app.js',
        args: ['x', 'y'],
      });
      expect(r).toMatchObject({ status: 'ok', stdout: 'node 42 x,y\n', stderr: '' });
    });

    it('writes base64 content byte-exact: every byte value reads back as sent', async () => {
      const blob = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0, 0, 13, 10, 255, 254])]);
      const r = await run({
        language: 'python',
        files: [
          { path: 'main.py', content: 'import hashlib\nb = open("data/blob.bin", "rb").read()\nprint(len(b), hashlib.sha256(b).hexdigest())\nprint(b.hex())' },
          { path: 'data/blob.bin', content: blob.toString('base64'), encoding: 'base64' },
        ],
      });
      expect(r.status).toBe('ok');
      const [first, hex] = r.stdout.trim().split('\n');
      expect(first).toBe(`${blob.length} ${createHash('sha256').update(blob).digest('hex')}`);
      expect(hex).toBe(blob.toString('hex'));
    });

    it('refuses a bad path with a 400 naming the file; no sandbox is made', async () => {
      // Earlier sandboxes may still be deleted in the background: no new one may appear.
      const before = new Set(containerIds());
      const r = await postJson(svc().url, { language: 'python', files: [{ path: 'main.py', content: '' }, { path: '../escape.py', content: '' }] }, TOKEN);
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('VALIDATION_FAILED');
      expect(r.json.errors.map((e: { path: string }) => e.path)).toEqual(['/files/1/path']);
      expect(containerIds().filter((id) => !before.has(id))).toEqual([]);
    });
  });

  describe('GET /v1/runtimes', () => {
    it('lists the image\'s real language versions and this host\'s active runtime', async () => {
      const r = await getJson<RuntimesInfo>(svc().url, '/v1/runtimes', TOKEN);
      expect(r.status).toBe(200);
      const info = r.json;
      const byName = Object.fromEntries(info.languages.map((l) => [l.name, l]));
      expect(Object.keys(byName)).toEqual(['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
      for (const l of info.languages) expect(l.version, l.name).toMatch(/^\d+\.\d+/);
      expect(byName.python!.version).toMatch(/^3\.\d+\.\d+/);
      expect(byName.python!.entryFile).toBe('main.py');

      // The versions are the image's: what the sandbox itself reports.
      const py = await run({ language: 'python', code: 'import platform; print(platform.python_version())' });
      expect(py.stdout.trim()).toBe(byName.python!.version);
      const js = await run({ language: 'javascript', code: 'console.log(process.versions.node)' });
      expect(js.stdout.trim()).toBe(byName.javascript!.version);
      const sh = await run({ language: 'bash', code: 'echo ${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}.${BASH_VERSINFO[2]}' });
      expect(sh.stdout.trim()).toBe(byName.bash!.version);

      const active = info.runtimes.filter((x) => x.active);
      expect(active.map((x) => x.kind)).toEqual([runtime]);
      expect(active[0]!.installed).toBe(true);
      expect(active[0]!.isolation).toBe({ kata: 'vm', gvisor: 'gvisor', runc: 'container' }[runtime]);
      expect(info.runtimes.map((x) => x.kind).sort()).toEqual(['gvisor', 'kata', 'runc']);
      expect(info.image).toBe(svc().config.image);
      expect(info.limits.timeoutMs).toEqual(svc().config.limits.timeoutMs);
      expect(info.profiles.find((p) => p.name === 'hardened')?.available).toBe(runtime !== 'runc');
    });
  });

  describe('streaming over real HTTP', () => {
    it('delivers the first chunk before the program ends, then the result', async () => {
      const res = await postStream(
        svc().url,
        { language: 'python', code: 'import time\nprint("first", flush=True)\ntime.sleep(1)\nprint("second")', timeoutMs: 30_000 },
        { token: TOKEN },
      );
      expect(res.status, res.body).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
      const names = res.events.map((e) => e.event);
      expect(names[0]).toBe('start');
      expect(names.at(-1)).toBe('result');
      expect(names.filter((n) => n === 'error')).toEqual([]);
      const out = res.events.filter((e) => e.event === 'stdout');
      expect(out.map((e) => e.data.data).join('')).toBe('first\nsecond\n');
      const first = out.find((e) => (e.data.data as string).includes('first'))!;
      const result = res.events.at(-1)!;
      // "first" arrives while the program sleeps its second: well before the result.
      expect(result.at - first.at).toBeGreaterThan(700);
      expect(result.data).toMatchObject({ status: 'ok', exitCode: 0, stdout: 'first\nsecond\n', id: res.events[0]!.data.id });
    });

    it('streams stderr and a failing exit in the result', async () => {
      const res = await postStream(svc().url, { language: 'bash', code: 'echo out; echo err >&2; exit 3' }, { token: TOKEN });
      const result = res.events.at(-1)!;
      expect(result.event).toBe('result');
      expect(result.data).toMatchObject({ status: 'error', exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
      expect(res.events.filter((e) => e.event === 'stderr').map((e) => e.data.data).join('')).toBe('err\n');
    });

    it('a refusal before the start is an ordinary problem response', async () => {
      const res = await postStream(svc().url, { language: 'cobol', code: 'x' }, { token: TOKEN });
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'UNKNOWN_LANGUAGE' });
      const unauth = await postStream(svc().url, { language: 'python', code: 'x' });
      expect(unauth.status).toBe(401);
    });

    it('a timeout ends the stream with a timeout result', async () => {
      const res = await postStream(svc().url, { language: 'python', code: 'import time\nprint("up", flush=True)\ntime.sleep(60)', timeoutMs: 1500 }, { token: TOKEN });
      const result = res.events.at(-1)!;
      expect(result.event).toBe('result');
      expect(result.data).toMatchObject({ status: 'timeout', stdout: 'up\n' });
    });

    it('a client that disconnects mid-stream gets its sandbox killed and deleted: nothing leaks', async () => {
      const started = Date.now();
      const res = await postStream(
        svc().url,
        { language: 'python', code: 'import time\nprint("started", flush=True)\ntime.sleep(60)\nprint("never")', timeoutMs: 60_000 },
        { token: TOKEN, onEvent: (e) => (e.event === 'stdout' ? 'abort' : undefined) },
      );
      expect(res.events.map((e) => e.event)).toEqual(['start', 'stdout']);
      const id = res.events[0]!.data.id as string;
      // The sandbox goes away long before its 60 s program or timeout would have ended.
      await waitFor('the sandbox to be deleted', () => !containerIds().includes(id), 30_000);
      await waitFor('the slot to be free', () => svc().service.queue.stats().running === 0, 30_000);
      expect(Date.now() - started).toBeLessThan(45_000);
      expect(await settledLeaks(svc().runDir)).toEqual(NO_LEAKS);
      // The service still works afterwards.
      expect((await run({ language: 'bash', code: 'echo alive' })).stdout).toBe('alive\n');
    });
  });
});
