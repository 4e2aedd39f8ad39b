/**
 * POST /v1/execute with Accept: text/event-stream, through app.inject: the fake runner
 * writes through opts.onOutput as a real program would, and the SSE payload is parsed.
 */
import { describe, expect, it } from 'vitest';
import { VmCreationFailedError, VmExecutionFailedError } from '../../src/errors.js';
import type { ExecuteResult } from '../../src/schemas/execute.js';
import type { RunCall } from '../fakes/fake-runner.js';
import { useTestApps } from '../helpers/test-apps.js';
import { type TestApp } from '../helpers/build-test-app.js';
import { expectNoLeak, expectProblem, type Problem } from '../helpers/problem.js';
import { parseSse, type SseEvent } from '../helpers/sse.js';

const setup = useTestApps();

const SSE = { accept: 'text/event-stream' };

function stream(t: TestApp, payload: Record<string, unknown>, accept = SSE.accept) {
  return t.app.inject({ method: 'POST', url: '/v1/execute', payload, headers: { accept } });
}

/** A fake program that writes its output in chunks, through onOutput, then exits. */
function writes(chunks: ['stdout' | 'stderr', string | Buffer][], exitCode = 0) {
  return (_spec: unknown, call: RunCall) => {
    for (const [s, c] of chunks) call.opts.onOutput?.(s, typeof c === 'string' ? Buffer.from(c) : c);
    const join = (s: 'stdout' | 'stderr') => Buffer.concat(chunks.filter(([x]) => x === s).map(([, c]) => (typeof c === 'string' ? Buffer.from(c) : c)));
    return { stdout: join('stdout'), stderr: join('stderr'), exitCode };
  };
}

function eventsOf(res: { statusCode: number; headers: Record<string, unknown>; body: string }): SseEvent[] {
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
  return parseSse(res.body);
}

/** The JSON shape of a value: the same keys and value types, recursively. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, shape(x)]));
  return v === null ? null : typeof v;
}

describe('streaming a program that ran', () => {
  it('sends start, then stdout/stderr chunks in order, then one result equal in shape to the JSON answer', async () => {
    const t = await setup();
    const program = writes([
      ['stdout', 'one\n'],
      ['stderr', 'warn\n'],
      ['stdout', 'two\n'],
    ]);
    t.runner.always(program);

    const res = await stream(t, { language: 'python', code: 'print(1)', metadata: { job: '7' } });
    const events = eventsOf(res);
    expect(res.headers['cache-control']).toMatch(/no-cache/);
    expect(res.headers['x-request-id']).toMatch(/^req-/);
    expect(events.map((e) => e.event)).toEqual(['start', 'stdout', 'stderr', 'stdout', 'result']);
    const [start, , , , result] = events as [SseEvent, SseEvent, SseEvent, SseEvent, SseEvent<ExecuteResult>];
    expect(start.data).toEqual({ id: expect.stringMatching(/^kx-[0-9a-f]{20}$/) });
    expect(events.slice(1, 4).map((e) => e.data)).toEqual([{ data: 'one\n' }, { data: 'warn\n' }, { data: 'two\n' }]);
    expect(result.data.id).toBe(start.data.id);
    expect(result.data).toMatchObject({ status: 'ok', exitCode: 0, stdout: 'one\ntwo\n', stderr: 'warn\n', metadata: { job: '7' } });

    // The same request without streaming: the same body, but for the id and the timings.
    const plain = await t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'print(1)', metadata: { job: '7' } } });
    expect(plain.statusCode).toBe(200);
    const json = plain.json<ExecuteResult>();
    expect(shape(result.data)).toEqual(shape(json));
    const strip = (r: ExecuteResult) => ({ ...r, id: 'x', sandboxId: 'x', durationMs: 0, timing: { ...r.timing, queuedMs: 0 } });
    expect(strip(result.data)).toEqual(strip(json));
  });

  it('reports a failing program in the result event (a program failing is not an error event)', async () => {
    const t = await setup();
    t.runner.always(writes([['stderr', 'oops\n']], 3));
    const events = eventsOf(await stream(t, { language: 'bash', code: 'echo oops >&2; exit 3' }));
    expect(events.map((e) => e.event)).toEqual(['start', 'stderr', 'result']);
    expect(events[2]!.data).toMatchObject({ status: 'error', exitCode: 3, stderr: 'oops\n' });
  });

  it('a program that prints nothing sends start then result', async () => {
    const t = await setup();
    const events = eventsOf(await stream(t, { language: 'bash', code: 'true' }));
    expect(events.map((e) => e.event)).toEqual(['start', 'result']);
  });

  it('decodes a UTF-8 character split across two chunks as one', async () => {
    const t = await setup();
    const bytes = Buffer.from('é✓\n');
    t.runner.always(writes([
      ['stdout', bytes.subarray(0, 1)],
      ['stdout', bytes.subarray(1, 3)],
      ['stdout', bytes.subarray(3)],
    ]));
    const events = eventsOf(await stream(t, { language: 'python', code: 'x' }));
    const text = events.filter((e) => e.event === 'stdout').map((e) => (e.data as { data: string }).data).join('');
    expect(text).toBe('é✓\n');
    expect(text).not.toContain('\uFFFD');
  });

  it('caps the live output at limits.outputBytes per stream; the result keeps its own head and tail', async () => {
    const t = await setup();
    t.runner.always(writes([
      ['stdout', 'abcdef'],
      ['stdout', 'ghij'],
      ['stderr', 'ABCDEFGH'],
    ]));
    const events = eventsOf(await stream(t, { language: 'python', code: 'x', limits: { outputBytes: 4 } }));
    const live = (s: string) => events.filter((e) => e.event === s).map((e) => (e.data as { data: string }).data).join('');
    expect(live('stdout')).toBe('abcd');
    expect(live('stderr')).toBe('ABCD');
    expect(events.at(-1)!.event).toBe('result');
  });

  it('keeps SSE framing intact for output with newlines, blank lines and CRs', async () => {
    const t = await setup();
    const nasty = 'a\n\nevent: result\ndata: {"fake":true}\n\r\nb';
    t.runner.always(writes([['stdout', nasty]]));
    const events = eventsOf(await stream(t, { language: 'python', code: 'x' }));
    expect(events.map((e) => e.event)).toEqual(['start', 'stdout', 'result']);
    expect(events[1]!.data).toEqual({ data: nasty });
  });

  it.each(['text/event-stream', 'application/json, text/event-stream', 'text/event-stream; charset=utf-8', 'TEXT/EVENT-STREAM'])(
    'streams for Accept: %s',
    async (accept) => {
      const t = await setup();
      const events = eventsOf(await stream(t, { language: 'bash', code: 'true' }, accept));
      expect(events.at(-1)!.event).toBe('result');
    },
  );

  it.each(['application/json', '*/*', 'text/plain'])('answers plain JSON for Accept: %s', async (accept) => {
    const t = await setup();
    const res = await stream(t, { language: 'bash', code: 'true' }, accept);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
  });
});

describe('refusals before start stay ordinary problem responses', () => {
  it('unknown language: 400 UNKNOWN_LANGUAGE as problem+json, no sandbox', async () => {
    const t = await setup();
    const res = await stream(t, { language: 'cobol', code: 'x' });
    const p = expectProblem(res, 400, 'UNKNOWN_LANGUAGE');
    expect(p.known).toEqual(['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
    expect(t.runner.calls).toHaveLength(0);
  });

  it('an invalid body: 400 VALIDATION_FAILED', async () => {
    const t = await setup();
    expectProblem(await stream(t, { language: 'python', files: [{ path: '../x', content: '' }] }), 400, 'VALIDATION_FAILED');
    expectProblem(await stream(t, { language: 'python' }), 400, 'VALIDATION_FAILED');
  });

  it('a limit above the maximum: 400 LIMIT_EXCEEDED', async () => {
    const t = await setup();
    expectProblem(await stream(t, { language: 'python', code: 'x', timeoutMs: 10_000_000 }), 400, 'LIMIT_EXCEEDED');
  });

  it('QUEUE_FULL: 503 with Retry-After, not a stream', async () => {
    const t = await setup({ env: { KATA_EXEC_CONCURRENCY: '1', KATA_EXEC_QUEUE_DEPTH: '0' } });
    const gate = t.runner.hold();
    const first = t.app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'x' } });
    await t.runner.waitForCalls(1);
    const res = await stream(t, { language: 'python', code: 'y' });
    expectProblem(res, 503, 'QUEUE_FULL');
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    gate.release();
    expect((await first).statusCode).toBe(200);
  });

  it('QUOTA_EXCEEDED: 429, not a stream', async () => {
    const t = await setup({ env: { KATA_EXEC_KEY_CONCURRENCY: '1' } });
    const gate = t.runner.hold();
    const first = stream(t, { language: 'python', code: 'x' });
    await t.runner.waitForCalls(1);
    expectProblem(await stream(t, { language: 'python', code: 'y' }), 429, 'QUOTA_EXCEEDED');
    gate.release();
    expect(eventsOf(await first).at(-1)!.event).toBe('result');
  });
});

describe('a failure after start', () => {
  it.each([
    ['VM_EXECUTION_FAILED', 502, () => new VmExecutionFailedError('the sandbox failed while running', { cause: new Error('ctr: /run/secret/path exploded') })],
    ['VM_CREATION_FAILED', 502, () => new VmCreationFailedError()],
    ['INTERNAL', 500, () => new Error('a bug at /work/main/src/x.ts:1:2')],
  ] as const)('ends the stream with one error event carrying the %s problem body', async (code, status, make) => {
    const t = await setup();
    t.runner.always((_spec, call) => {
      call.opts.onOutput?.('stdout', Buffer.from('partial\n'));
      return make();
    });
    const res = await stream(t, { language: 'python', code: 'x' });
    const events = eventsOf(res);
    expect(events.map((e) => e.event)).toEqual(['start', 'stdout', 'error']);
    const p = events[2]!.data as Problem;
    expect(p).toMatchObject({ status, code, type: `urn:kata-exec:error:${code.toLowerCase().replaceAll('_', '-')}`, title: expect.any(String), detail: expect.any(String) });
    expectNoLeak(JSON.stringify(p));
  });
});
