/**
 * The CPU-time limit on a real Kata VM (issue 14): a C program compiled in the VM and judged
 * on six tests in that one VM (accepted, wrong answer, runtime error, a CPU-time limit that a
 * sleeping run with the same limit passes, a memory limit). test/kata/languages.test.ts
 * judges every language through both APIs; this file keeps the proof that a sleeping run is
 * not charged what a spinning one is. Times are never asserted: the VMs run under TCG
 * emulation, so every limit has room and the verdicts rest on CPU time and peak RSS, which a
 * slow guest does not change.
 */
import { describe, expect, it } from 'vitest';
import { execute } from '../helpers/real-service.js';
import { settledLeftoversOf, useKataService } from './kata-helpers.js';

const T = 300_000;
// gcc in an emulated guest took more than the 30 s default compile time (13.5 s of it in the
// guest's kernel): an operator of emulated VMs raises the default, as here.
const ENV = { KATA_EXEC_TIMEOUT_MS_DEFAULT: String(T), KATA_EXEC_TIMEOUT_MS_MAX: String(T), KATA_EXEC_COMPILE_TIMEOUT_MS_DEFAULT: '120000' };

// One program, six behaviours chosen by its stdin.
const C_PROGRAM = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
  char cmd[16] = {0};
  long a = 0, b = 0;
  if (scanf("%15s %ld %ld", cmd, &a, &b) < 1) return 2;
  if (!strcmp(cmd, "add")) { printf("%ld\\n", a + b); return 0; }
  if (!strcmp(cmd, "crash")) { fprintf(stderr, "crashing\\n"); return 3; }
  if (!strcmp(cmd, "spin")) { volatile unsigned long x = 0; for (;;) x++; }
  if (!strcmp(cmd, "sleep")) { sleep(3); puts("rested"); return 0; }
  if (!strcmp(cmd, "alloc")) {
    /* Every page written through a volatile pointer: gcc -O2 drops a malloc and memset whose bytes are never read. */
    for (;;) { volatile char *p = malloc(1 << 20); if (!p) return 4; for (int i = 0; i < (1 << 20); i += 4096) p[i] = 1; }
  }
  return 5;
}
`;

/**
 * Six tests: two accepted, then each way a run fails, in a known order. Room for an emulated
 * guest, where CPU time is charged generously on a loaded host (no steal-time accounting
 * under TCG: a C program's exec was charged 1.2 s there), so the CPU limit is 5 s, and each
 * run gets 30 s of wall clock.
 */
function tests(cpuMs: number, longWallMs: number) {
  return [
    { stdin: 'add 1 2', expectedOutput: '3', timeoutMs: 30_000 },
    { stdin: 'add 2 2', expectedOutput: '5', timeoutMs: 30_000 },
    { stdin: 'crash', timeoutMs: 30_000 },
    { stdin: 'spin', cpuTimeMs: cpuMs, timeoutMs: longWallMs },
    { stdin: 'sleep', cpuTimeMs: cpuMs, timeoutMs: longWallMs, expectedOutput: 'rested' },
    { stdin: 'alloc', memoryMb: 64, timeoutMs: 30_000 },
  ];
}
const VERDICTS = ['accepted', 'wrong_answer', 'runtime_error', 'time_limit', 'accepted', 'memory_limit'];

describe('Kata: the CPU-time limit of a compiled program', () => {
  const svc = useKataService(ENV);

  it('c: six tests in one VM get their verdicts (a spinning run is time_limit, a sleeping one with the same CPU limit is not)', async () => {
    const cpuMs = 5_000;
    const r = await execute(svc(), { language: 'c', code: C_PROGRAM, tests: tests(cpuMs, 30_000), limits: { memoryMb: 256 }, timeoutMs: T });
    expect(
      r.tests?.map((t) => t.verdict),
      JSON.stringify({ status: r.status, compile: r.compile, tests: r.tests?.map((t) => [t.verdict, t.exitCode, t.signal, t.cpuTimeMs, t.maxRssKb, t.stderr.slice(0, 200)]) }),
    ).toEqual(VERDICTS);
    expect(r).toMatchObject({ verdict: 'wrong_answer', summary: { passed: 2, total: 6 } });
    expect(r.tests![0]!.stdout).toBe('3\n');
    expect(r.tests![1]!.stdout).toBe('4\n');
    expect(r.tests![2]!.exitCode).toBe(3);
    expect(r.tests![3]!.cpuTimeMs).toBeGreaterThanOrEqual(cpuMs);
    expect(r.tests![4]!.stdout).toBe('rested\n');
    expect(r.tests![4]!.cpuTimeMs).toBeLessThan(cpuMs);
    expect(r.compile?.status).toBe('ok');
    expect(await settledLeftoversOf(r.id, 60_000)).toEqual([]);
  });
});
