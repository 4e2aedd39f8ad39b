/**
 * A schema-driven fuzzer (issue 10, "beyond the list"): fast-check generates request
 * bodies from the ExecuteRequest schema (valid, nearly valid and hostile values), raw
 * bodies, content types and headers, and sends them to the real app over the fake runner,
 * whose programs print control bytes and invalid UTF-8. Whatever comes in: no 500, only
 * problem bodies with a known code, no unhandled rejection, and nothing left held (queue,
 * quota, memory reservation, handles). It counts what it tried and prints the figures
 * that the README's security section quotes.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS_BY_CODE } from '../../src/http/error-map.js';
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js';
import { API_KEYS, TOKENS } from '../helpers/keys.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 800);

const weirdString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', '\u0000', '../../etc/passwd', '/abs', 'a/b', ' ', 'k'.repeat(200), '__proto__', 'constructor', '\ud800', 'ä', '\r\n'),
);
const weirdNumber = fc.oneof(
  fc.integer({ min: -10, max: 100 }),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.constantFrom(0, -1, 0.0004, 1e308, 2 ** 53, 16, 1024, 16 * 1024 * 1024, 1.5),
);
const language = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('python', 'bash', 'javascript') }, fc.constantFrom('python', 'py', 'javascript', 'js', 'bash', 'sh', 'node', 'cobol', 'PYTHON'), weirdString);
const limits = fc.record(
  {
    memoryMb: weirdNumber,
    cpus: weirdNumber,
    pids: weirdNumber,
    diskMb: weirdNumber,
    outputBytes: fc.oneof(weirdNumber, fc.integer({ min: 1, max: 65536 })),
    openFiles: weirdNumber,
  },
  { requiredKeys: [] },
);
const file = fc.record(
  {
    path: fc.oneof(fc.constantFrom('main.py', 'lib/util.py', 'a/b/c/d/e/f/g/h/i.py', '.hidden'), weirdString),
    content: fc.oneof(fc.string({ maxLength: 50 }), fc.base64String({ maxLength: 40 })),
    encoding: fc.oneof(fc.constantFrom('utf8', 'base64'), weirdString),
  },
  { requiredKeys: ['path', 'content'] },
);
const dict = (key: fc.Arbitrary<string>) => fc.dictionary(key, fc.oneof(fc.string({ maxLength: 20 }), fc.integer() as fc.Arbitrary<unknown>), { maxKeys: 5 });

/** Bodies shaped by the schema: every field optional, each either plausible or hostile. */
const schemaBody = fc.record(
  {
    language,
    // Most bodies have the required fields, so that generation reaches past validation.
    code: fc.oneof(fc.string({ maxLength: 200 }), fc.constant('print(6*7)')),
    files: fc.array(file, { maxLength: 4 }),
    entrypoint: fc.oneof(fc.constant('main.py'), weirdString),
    stdin: fc.string({ maxLength: 50 }),
    args: fc.array(fc.oneof(fc.string({ maxLength: 20 }), fc.integer() as fc.Arbitrary<unknown>), { maxLength: 4 }),
    env: dict(fc.oneof(fc.constantFrom('A', 'LD_PRELOAD', 'PATH', '_x'), weirdString)),
    timeoutMs: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 100, max: 60_000 }) }, weirdNumber),
    limits: fc.oneof({ weight: 4, arbitrary: limits }, fc.anything() as fc.Arbitrary<unknown>),
    profile: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('dev', 'standard', 'hardened') }, weirdString),
    metadata: dict(fc.oneof(fc.constantFrom('job', 'a.b-c_d'), weirdString)),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
).chain((b) => fc.boolean().map((complete) => (complete ? { language: 'python', code: 'print(1)', ...b } : b)));

/** Bodies the schema accepts, so that the execution path itself is fuzzed too. */
const validBody = fc.record(
  {
    language: fc.constantFrom('python', 'py', 'javascript', 'bash'),
    code: fc.string({ maxLength: 200 }),
    stdin: fc.string({ maxLength: 50 }),
    args: fc.array(fc.string({ maxLength: 20 }), { maxLength: 4 }),
    env: fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/), fc.string({ maxLength: 20 }), { maxKeys: 4 }),
    timeoutMs: fc.integer({ min: 100, max: 60_000 }),
    limits: fc.record(
      { memoryMb: fc.integer({ min: 16, max: 2048 }), pids: fc.integer({ min: 1, max: 1024 }), outputBytes: fc.integer({ min: 1, max: 65536 }), cpus: fc.double({ min: 0.01, max: 4, noNaN: true }) },
      { requiredKeys: [] },
    ),
    profile: fc.constantFrom('dev', 'standard', 'hardened'),
    metadata: fc.dictionary(fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/), fc.string({ maxLength: 30 }), { maxKeys: 4 }),
  },
  { requiredKeys: ['language', 'code'] },
);

const body = fc.oneof(
  { weight: 4, arbitrary: validBody.map((b) => JSON.stringify(b)) },
  { weight: 6, arbitrary: schemaBody.map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '{"language":', 'null', '[]', '{"language":"python","code":"1"}}', '\u0000', '{"a":1,"a":2}', `{"language":"python","code":"${'x'.repeat(2_000_000)}"}`) },
);

const contentType = fc.option(
  fc.oneof(
    { weight: 6, arbitrary: fc.constant('application/json') },
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'APPLICATION/JSON',
      'application/json; charset=latin1',
      'text/plain',
      'text/event-stream',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/problem+json',
      'application/json, text/plain',
      '*/*',
    ),
    fc.string({ maxLength: 30 }),
  ),
  { nil: undefined, freq: 8 },
);

const headers = fc.record(
  {
    accept: fc.oneof(fc.constantFrom('text/event-stream', 'application/json', '*/*', 'text/event-stream;q=0', 'text/html'), fc.string({ maxLength: 30 })),
    authorization: fc.oneof({ weight: 4, arbitrary: fc.constant(`Bearer ${TOKENS.alice}`) }, fc.constantFrom(`Bearer ${TOKENS.alice}`, 'Bearer', 'Basic YTpi', `Bearer ${TOKENS.alice} extra`), fc.string({ maxLength: 40 })),
    'x-forwarded-for': fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 30 })),
    'content-encoding': fc.constantFrom('gzip', 'identity', 'br', 'x'),
    'x-request-id': fc.string({ maxLength: 30 }),
  },
  { requiredKeys: [] },
);

const target = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ method: 'POST' as const, url: '/v1/execute' }) },
  {
    weight: 1,
    arbitrary: fc.record({
      method: fc.constantFrom('GET' as const, 'POST' as const, 'PUT' as const, 'DELETE' as const, 'OPTIONS' as const, 'HEAD' as const),
      url: fc.oneof(fc.constantFrom('/v1/execute', '/v1/runtimes', '/healthz', '/readyz', '/metrics', '/openapi.json', '/v1/execute?x=1'), fc.webPath().map((p) => `/${p.replace(/^\/+/, '')}`)),
    }),
  },
);

/** Header values a client could really send (inject refuses the rest, as Node would). */
function sendable(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter(([, v]) => /^[\t\x20-\x7e\x80-\xff]*$/.test(v)));
}

const tally = new Map<string, number>();
let unhandled = 0;
const onUnhandled = () => unhandled++;

for (const auth of ['off', 'on'] as const) {
  describe(`fuzzing POST /v1/execute and friends, authentication ${auth}`, () => {
    let t: TestApp;
    let resourcesBefore: string[];
    beforeAll(async () => {
      process.on('unhandledRejection', onUnhandled);
      resourcesBefore = process.getActiveResourcesInfo();
      t = await buildTestApp({
        env: { ...(auth === 'on' ? { KATA_EXEC_API_KEYS: API_KEYS } : {}), KATA_EXEC_RATE_LIMIT_PER_MINUTE: '0', KATA_EXEC_AUTH_FAILURES_PER_MINUTE: '100000' },
      });
      // Programs print control bytes and invalid UTF-8, up to their output cap.
      t.runner.always((spec, call) => {
        const n = Math.min(spec.resources.outputBytes, 4096);
        const bytes = Buffer.alloc(n, 0x01);
        bytes[0] = 0xff;
        call.opts.onOutput?.('stdout', bytes);
        return { stdout: bytes, stderr: bytes, exitCode: spec.command.length % 3 };
      });
    });
    afterAll(async () => {
      await t.app.close();
      process.off('unhandledRejection', onUnhandled);
    });

    it(`answers ${RUNS} generated requests without a 500, an unknown code or a leak`, async () => {
      await fc.assert(
        fc.asyncProperty(target, body, contentType, headers, async (tg, payload, ct, hs) => {
          const res = await t.app.inject({
            method: tg.method,
            url: tg.url,
            headers: sendable({ ...hs, ...(ct === undefined ? {} : { 'content-type': ct }) }),
            ...(tg.method === 'GET' || tg.method === 'HEAD' ? {} : { payload }),
          });
          const key = `${res.statusCode}${res.statusCode >= 400 && res.body ? ` ${(JSON.parse(res.body) as { code: string }).code}` : ''}`;
          tally.set(key, (tally.get(key) ?? 0) + 1);
          expect(res.statusCode, res.body).not.toBe(500);
          expect(res.statusCode, res.body).toBeLessThan(500);
          if (res.statusCode >= 400 && tg.method !== 'HEAD') {
            expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
            const code = (JSON.parse(res.body) as { code: string }).code;
            expect(Object.keys(STATUS_BY_CODE)).toContain(code);
          }
        }),
        { numRuns: RUNS },
      );
      // Nothing held after the storm: no execution, no quota place, no reservation.
      expect(t.service.queue.stats()).toEqual({ running: 0, waiting: 0 });
      await expect.poll(() => t.service.memory.reservedBytes).toBe(0);
      expect(unhandled).toBe(0);
    }, 300_000);

    it('leaves no handle behind once the app is closed', async () => {
      await t.app.close();
      const after = process.getActiveResourcesInfo();
      const extra = [...after];
      for (const r of resourcesBefore) {
        const i = extra.indexOf(r);
        if (i >= 0) extra.splice(i, 1);
      }
      // Timers of the test runner itself come and go; sockets, servers and handles may not stay.
      expect(extra.filter((r) => r !== 'Timeout' && r !== 'Immediate')).toEqual([]);
    });
  });
}

afterAll(() => {
  const total = [...tally.values()].reduce((a, b) => a + b, 0);
  const lines = [...tally.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`);
  console.log(`fuzz: ${total} requests\n  ${lines.join('\n  ')}`);
});
