/**
 * The generated TypeScript client (clients/typescript: openapi-typescript types over
 * openapi/openapi.json, openapi-fetch at run time) against the live service. A document
 * that no longer describes what the service does breaks these tests: the drift test keeps
 * schema.d.ts equal to the document, and these calls are type-checked against it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createKataExecClient, executeStream, type ExecuteEvent, type ExecuteRequest, type KataExecClient } from '../../clients/typescript/index.js';
import { API_KEYS, TOKENS } from '../helpers/keys.js';
import { testRuntimes, useService } from '../helpers/real-service.js';

describe.each(testRuntimes())('generated client on %s', (runtime) => {
  let client: KataExecClient;

  const svc = useService(runtime, { KATA_EXEC_API_KEYS: API_KEYS }, { leaksEach: true });
  beforeAll(() => {
    client = createKataExecClient(svc().url, TOKENS.alice);
  });

  it('POST /v1/execute: a typed result', async () => {
    const body: ExecuteRequest = { language: 'python', code: 'import sys\nprint(6*7)\nprint(sys.argv[1], file=sys.stderr)', args: ['to-stderr'], metadata: { job: 'c1' } };
    const { data, error, response } = await client.POST('/v1/execute', { body });
    expect(error).toBeUndefined();
    expect(response.status).toBe(200);
    expect(data).toBeDefined();
    // Typed fields: a wrong name here is a type error in `npm run typecheck`.
    expect(data!.status).toBe('ok');
    expect(data!.exitCode).toBe(0);
    expect(data!.stdout).toBe('42\n');
    expect(data!.stderr).toBe('to-stderr\n');
    expect(data!.backend.kind).toBe(runtime);
    expect(data!.limits.timeoutMs).toBe(svc().config.limits.timeoutMs.default);
    expect(data!.timing.setupMs).toBeGreaterThan(0);
    expect(data!.metadata).toEqual({ job: 'c1' });
  });

  it('POST /v1/execute: several files, an entrypoint, env and base64 through the typed body', async () => {
    const { data } = await client.POST('/v1/execute', {
      body: {
        language: 'javascript',
        files: [
          { path: 'lib/greet.js', content: Buffer.from('module.exports = (n) => `hi ${n} ${process.env.WHO}`;').toString('base64'), encoding: 'base64' },
          { path: 'app.js', content: 'console.log(require("./lib/greet.js")("there"))' },
        ],
        entrypoint: 'app.js',
        env: { WHO: 'client' },
      },
    });
    expect(data).toMatchObject({ status: 'ok', stdout: 'hi there client\n' });
  });

  it('GET /v1/runtimes: typed languages, runtimes and limits', async () => {
    const { data, error } = await client.GET('/v1/runtimes');
    expect(error).toBeUndefined();
    expect(data!.languages.map((l) => l.name)).toEqual(['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
    for (const l of data!.languages) expect(l.version).toMatch(/^\d+\.\d+/);
    expect(data!.runtimes.find((r) => r.active)?.kind).toBe(runtime);
    expect(data!.limits.memoryMb.max).toBe(svc().config.limits.memoryMb.max);
  });

  it('an error is a typed problem body: 400 UNKNOWN_LANGUAGE with the known languages', async () => {
    const { data, error, response } = await client.POST('/v1/execute', { body: { language: 'cobol', code: 'DISPLAY 1' } });
    expect(data).toBeUndefined();
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(error).toMatchObject({ status: 400, code: 'UNKNOWN_LANGUAGE', type: 'urn:kata-exec:error:unknown-language' });
    expect(error!.known).toEqual(['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
  });

  it('a validation error names the field in `errors`', async () => {
    const { error, response } = await client.POST('/v1/execute', { body: { language: 'python', files: [{ path: '/etc/passwd', content: 'x' }] } });
    expect(response.status).toBe(400);
    expect(error!.code).toBe('VALIDATION_FAILED');
    expect(error!.errors?.map((e) => e.path)).toContain('/files/0/path');
  });

  it('without the token: 401 UNAUTHORIZED', async () => {
    const anonymous = createKataExecClient(svc().url);
    const { error, response } = await anonymous.POST('/v1/execute', { body: { language: 'python', code: 'print(1)' } });
    expect(response.status).toBe(401);
    expect(error!.code).toBe('UNAUTHORIZED');
    const wrong = createKataExecClient(`${svc().url}/`, 'kx_wrong');
    expect((await wrong.GET('/v1/runtimes')).response.status).toBe(401);
  });

  it('executeStream: events as they come, then the result', async () => {
    const events: ExecuteEvent[] = [];
    const outcome = await executeStream(client, { language: 'bash', code: 'echo one; echo two >&2; echo three' }, (e) => events.push(e));
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.result).toMatchObject({ status: 'ok', stdout: 'one\nthree\n', stderr: 'two\n' });
    expect(events[0]!.event).toBe('start');
    expect(events.at(-1)!.event).toBe('result');
    const refused = await executeStream(client, { language: 'cobol', code: 'x' });
    expect(refused).toMatchObject({ ok: false, status: 400, problem: { code: 'UNKNOWN_LANGUAGE' } });
  });
});
