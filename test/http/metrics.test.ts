import { describe, expect, it } from 'vitest';
import { useTestApps } from '../helpers/test-apps.js';
import { execute } from '../helpers/problem.js';

const setup = useTestApps();

describe('GET /metrics', () => {
  it('serves Prometheus text with the execution counters, the histograms and the queue gauges', async () => {
    const t = await setup();
    t.runner.next({ stdout: '1\n' }, { exitCode: 2 });
    expect((await execute(t.app, { language: 'python', code: 'x' })).statusCode).toBe(200);
    expect((await execute(t.app, { language: 'js', code: 'x' })).statusCode).toBe(200);
    expect((await execute(t.app, { language: 'cobol', code: 'x' })).statusCode).toBe(400);

    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    expect(text).toContain('# TYPE kata_exec_executions_total counter');
    expect(text).toContain('kata_exec_executions_total{runtime="gvisor",language="python",status="ok"} 1');
    // Aliases are counted under the language's name, so label values stay bounded.
    expect(text).toContain('kata_exec_executions_total{runtime="gvisor",language="javascript",status="error"} 1');
    expect(text).toContain('# TYPE kata_exec_execution_duration_seconds histogram');
    expect(text).toContain('kata_exec_execution_duration_seconds_count{runtime="gvisor",status="ok"} 1');
    expect(text).toContain('kata_exec_execution_duration_seconds_count{runtime="gvisor",status="error"} 1');
    for (const phase of ['queued', 'setup', 'run']) {
      expect(text).toContain(`kata_exec_phase_duration_seconds_count{runtime="gvisor",phase="${phase}"} 2`);
    }
    // The teardown runs after the answer: the real runner observes it (test/integration/pool.test.ts).
    expect(text).not.toContain('phase="teardown"');
    expect(text).toMatch(/^kata_exec_queue_depth 0$/m);
    expect(text).toMatch(/^kata_exec_in_flight 0$/m);
    expect(text).toContain('kata_exec_failures_total{code="UNKNOWN_LANGUAGE"} 1');
  });

  it("counts a sandbox that its pids cgroup ended (gVisor's backstop) apart, as the program's limit", async () => {
    const t = await setup();
    t.runner.next({ exitCode: null, usage: null, pidsLimitHit: true });
    const r = await execute(t.app, { language: 'python', code: 'x', limits: { pids: 64 } });
    expect(r.json()).toMatchObject({ status: 'killed', killedBy: 'pids_limit', exitCode: null, signal: null });
    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toContain('# TYPE kata_exec_pids_limit_kills_total counter');
    expect(text).toContain('kata_exec_pids_limit_kills_total{runtime="gvisor"} 1');
    expect(text).toContain('kata_exec_executions_total{runtime="gvisor",language="python",status="killed"} 1');
  });

  it('a client cannot invent label values: unknown languages never become a label', async () => {
    const t = await setup();
    await execute(t.app, { language: 'evil"label', code: 'x' });
    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).not.toContain('evil');
  });
});

describe('x-request-id', () => {
  it('is on every response, unique per request, and not taken from the client', async () => {
    const t = await setup();
    const responses = await Promise.all([
      execute(t.app, { language: 'python', code: 'x' }),
      execute(t.app, { language: 'python' }),
      t.app.inject({ method: 'GET', url: '/healthz' }),
      t.app.inject({ method: 'GET', url: '/metrics' }),
      t.app.inject({ method: 'GET', url: '/nowhere' }),
      t.app.inject({ method: 'GET', url: '/readyz', headers: { 'x-request-id': 'client-chosen' } }),
    ]);
    const ids = responses.map((r) => r.headers['x-request-id']);
    for (const id of ids) expect(id).toMatch(/^req-[0-9a-f]{20}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('is the request id written to the audit log', async () => {
    const t = await setup();
    const res = await execute(t.app, { language: 'python', code: 'x' });
    const audit = t.logger.lines.map((l) => l.obj).find((o): o is { audit: { requestId: string } } => typeof o === 'object' && 'audit' in o);
    expect(audit?.audit.requestId).toBe(res.headers['x-request-id']);
  });
});
