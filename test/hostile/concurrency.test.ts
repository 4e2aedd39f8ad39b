/**
 * Many executions at once: 50 ordinary ones, each answered correctly, and ordinary ones
 * next to hostile neighbours. The queue holds them all (KATA_EXEC_QUEUE_DEPTH 100).
 */
import { describe, expect, it } from 'vitest';
import { execute, testRuntimes } from '../helpers/real-service.js';
import { hostile, useService } from './hostile-case.js';

describe.each(testRuntimes())('many executions at once on %s', (runtime) => {
  const svc = useService(runtime, { KATA_EXEC_QUEUE_DEPTH: '100' });

  it('answers 50 concurrent executions, each with its own output, and leaks nothing', async () => {
    const n = 50;
    const results = await hostile(svc(), () =>
      Promise.all(Array.from({ length: n }, (_, i) => execute(svc(), { language: 'python', code: `print(${i})`, timeoutMs: 60_000 }))),
    );
    results.forEach((r, i) => expect(r, `execution ${i}`).toMatchObject({ status: 'ok', exitCode: 0, stdout: `${i}\n` }));
    expect(new Set(results.map((r) => r.id)).size).toBe(n);
    // They queued (2 cores): some waited, none was refused.
    expect(Math.max(...results.map((r) => r.timing.queuedMs))).toBeGreaterThan(0);
  }, 600_000);

  it('answers ordinary executions correctly next to hostile neighbours', async () => {
    const neighbours = [
      execute(svc(), { language: 'bash', code: 'yes', limits: { outputBytes: 65536 }, timeoutMs: 30_000 }),
      execute(svc(), { language: 'python', code: 'import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass', limits: { pids: 32 }, timeoutMs: 4000 }),
      execute(svc(), { language: 'python', code: 'b = []\nwhile True:\n    b.append(bytearray(1 << 20))\n    b[-1][::4096] = b"\\x01" * 256', limits: { memoryMb: 64 }, timeoutMs: 30_000 }),
      execute(svc(), { language: 'python', code: 'while True:\n    pass', timeoutMs: 3000 }),
    ];
    const ordinary = Array.from({ length: 8 }, (_, i) => execute(svc(), { language: 'bash', code: `echo ordinary-${i}`, timeoutMs: 60_000 }));
    const [hostileResults, ordinaryResults] = await hostile(svc(), () => Promise.all([Promise.all(neighbours), Promise.all(ordinary)]));
    ordinaryResults.forEach((r, i) => expect(r).toMatchObject({ status: 'ok', stdout: `ordinary-${i}\n` }));
    expect(hostileResults.map((r) => r.status)).toEqual([
      'output_limit',
      expect.stringMatching(/^(timeout|error|killed|oom)$/),
      expect.stringMatching(/^(oom|killed)$/),
      'timeout',
    ]);
  }, 600_000);
});
