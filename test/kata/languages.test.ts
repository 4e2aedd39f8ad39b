/**
 * Every language of the full image on real Kata VMs (issue 14), through both APIs. For each
 * language, one program reads a command on stdin (test/helpers/judge-programs.ts), and:
 * - POST /v1/execute judges it on five tests in one VM (accepted, wrong answer, runtime
 *   error, a CPU-time limit, a memory limit: a three-test submission with one wrong answer
 *   and more), compiled once in that VM;
 * - POST /judge0/submissions/batch sends the same five cases as five Judge0 submissions of
 *   that source (compiled once: a batch's submissions of one source share one execution)
 *   and the language's broken source, which is a Compilation Error (status 6) in a compiled
 *   language and a Runtime Error (NZEC) in an interpreted one;
 * - a compiled language's broken source through /v1/execute is compile_error, with no run.
 * Every request is at the service's default limits, as a judge site sends them. A VM boots in
 * ~10 s under TCG and compilers run 10-50 times slower than on the host, so the wall and
 * compile limits have room; the verdicts rest on CPU time and peak RSS, never on elapsed time.
 */
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { findLanguage } from '../../src/execution/languages.js';
import { primaryJudge0Id } from '../../src/judge0/languages.js';
import { JUDGE_PROGRAMS } from '../helpers/judge-programs.js';
import { counter, execute } from '../helpers/real-service.js';
import { settledLeftoversOf, useKataService } from './kata-helpers.js';

const T = 900_000;
// A compile in an emulated guest: g++ took 85 s for <bits/stdc++.h> (the C++ program includes only what it uses), rustc and go about 45 s.
const COMPILE_MS = 240_000;
// No warm pool: a pooled VM booting while a cold one boots made both miss the emulated agent's
// start window (CI: "Failed to check if grpc server is working" twice in a row). One VM at a time.
const ENV = { KATA_EXEC_TIMEOUT_MS_DEFAULT: String(T), KATA_EXEC_TIMEOUT_MS_MAX: String(T), KATA_EXEC_COMPILE_TIMEOUT_MS_DEFAULT: String(COMPILE_MS) };
const RUN_WALL_MS = 120_000;

/**
 * The CPU-time limit of the spinning run: above what the language's own start is charged in
 * an emulated guest (no steal-time accounting under TCG: node's start was charged 9-23 s on a
 * loaded host, the JVM's 6-13 s), so that the verdict comes from the loop, not the start.
 */
function spinCpuMs(language: string): number {
  if (language === 'javascript' || language === 'typescript') return 40_000;
  if (language === 'java') return 30_000;
  return 8_000;
}

/** The five cases, in order, as tests of one request and as five Judge0 submissions. */
function cases(language: string) {
  return [
    { stdin: 'double 21', expected: '42', verdict: 'accepted', judge0: 3 },
    { stdin: 'double 5', expected: '11', verdict: 'wrong_answer', judge0: 4 },
    // C's abort() and C++'s uncaught exception end in SIGABRT (Judge0's 10); the others exit non-zero (NZEC, 11).
    { stdin: 'crash', verdict: 'runtime_error', judge0: language === 'c' || language === 'cpp' ? 10 : 11 },
    { stdin: 'spin', cpuMs: spinCpuMs(language), verdict: 'time_limit', judge0: 5 },
    // Judge0 has no memory status: a run killed for memory is Runtime Error (Other), 12, 'Memory limit exceeded'.
    { stdin: 'hog', memoryMb: 64, verdict: 'memory_limit', judge0: 12 },
  ];
}

interface Judge0Answer {
  token: string;
  status: { id: number; description: string };
  stdout: string | null;
  compile_output: string | null;
  message: string | null;
}

describe('Kata: every language, through /v1/execute and /judge0', () => {
  const svc = useKataService(ENV);

  describe.each(Object.keys(JUDGE_PROGRAMS))('%s', (language) => {
    const program = JUDGE_PROGRAMS[language]!;
    const compiled = findLanguage(language)!.compile !== undefined;

    it('/v1/execute: accepted, wrong_answer, runtime_error, time_limit, memory_limit in one VM', async () => {
      const cs = cases(language);
      const r = await execute(svc(), {
        language,
        code: program.judge,
        timeoutMs: T,
        tests: cs.map((c) => ({
          stdin: c.stdin,
          timeoutMs: RUN_WALL_MS,
          ...(c.expected !== undefined ? { expectedOutput: c.expected } : {}),
          ...(c.cpuMs !== undefined ? { cpuTimeMs: c.cpuMs } : {}),
          ...(c.memoryMb !== undefined ? { memoryMb: c.memoryMb } : {}),
        })),
      });
      if (compiled) expect(r.compile, r.compile?.stderr).toMatchObject({ status: 'ok', exitCode: 0 });
      else expect(r.compile).toBeUndefined();
      expect(
        r.tests?.map((t) => t.verdict),
        JSON.stringify({ status: r.status, tests: r.tests?.map((t) => [t.verdict, t.exitCode, t.signal, t.cpuTimeMs, t.maxRssKb, t.stderr.slice(0, 160)]) }),
      ).toEqual(cs.map((c) => c.verdict));
      expect(r.tests!.map((t) => t.stdout.split('\n')[0])).toEqual(['42', '10', 'before', '', expect.any(String)]);
      expect(r.tests![3]!.cpuTimeMs).toBeGreaterThanOrEqual(spinCpuMs(language));
      expect(r).toMatchObject({ verdict: 'wrong_answer', summary: { passed: 1, total: 5 } });
      expect(await settledLeftoversOf(r.id, 60_000)).toEqual([]);
    });

    it('/judge0/submissions/batch: the same five cases and the broken source get their Judge0 statuses', async () => {
      const cs = cases(language);
      const submissions = [
        ...cs.map((c) => ({
          language_id: judge0Id(language),
          source_code: program.judge,
          stdin: c.stdin,
          wall_time_limit: RUN_WALL_MS / 1000,
          ...(c.memoryMb !== undefined ? { memory_limit: c.memoryMb * 1024 } : {}),
          ...(c.expected !== undefined ? { expected_output: c.expected } : {}),
          ...(c.cpuMs !== undefined ? { cpu_time_limit: c.cpuMs / 1000 } : {}),
        })),
        { language_id: judge0Id(language), source_code: program.broken, wall_time_limit: RUN_WALL_MS / 1000 },
      ];
      const executions = await counter(svc(), 'kata_exec_executions_total');
      const res = await request(`${svc().url}/judge0/submissions/batch?wait=true&fields=token,status,stdout,compile_output,message`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ submissions }),
      });
      const answers = (await res.body.json()) as Judge0Answer[];
      expect(res.statusCode, JSON.stringify(answers)).toBe(201);
      expect(
        answers.map((a) => a.status.id),
        JSON.stringify(answers.map((a) => [a.status, a.message, a.compile_output?.slice(0, 200)])),
      ).toEqual([...cs.map((c) => c.judge0), compiled ? 6 : 11]);
      expect(answers.map((a) => a.stdout?.split('\n')[0] ?? null).slice(0, 3)).toEqual(['42', '10', 'before']);
      expect(answers[4]!.message).toBe('Memory limit exceeded');
      if (compiled) expect(answers[5]!.compile_output).toBeTruthy();
      // One token each; the five runs of one source were one execution (one VM, one compile), the broken source another.
      expect(new Set(answers.map((a) => a.token)).size).toBe(6);
      expect(await counter(svc(), 'kata_exec_executions_total')).toBe(executions + 2);
      // A token is its execution's id, with `-<n>` after it for a member of a shared execution.
      for (const id of new Set(answers.map((a) => /^kx-[0-9a-f]{20}/.exec(a.token)![0]))) expect(await settledLeftoversOf(id, 60_000)).toEqual([]);
    });

  });

  // An interpreted language has no compile: its broken source is one more runtime error (its Judge0 answer above).
  describe.each(Object.keys(JUDGE_PROGRAMS).filter((l) => findLanguage(l)!.compile !== undefined))('%s', (language) => {
    it('/v1/execute: a source that does not build is compile_error, with the compiler output and no run', async () => {
      const r = await execute(svc(), { language, code: JUDGE_PROGRAMS[language]!.broken, timeoutMs: T, tests: [{ stdin: '', expectedOutput: '' }] });
      expect(r).toMatchObject({ status: 'compile_error', verdict: 'compile_error', compile: { status: 'error' }, tests: [] });
      expect(r.compile!.stderr.length + r.compile!.stdout.length).toBeGreaterThan(0);
      expect(await settledLeftoversOf(r.id, 60_000)).toEqual([]);
    });
  });
});

/** The Judge0 id Judge0 clients send for this language (GET /judge0/languages lists it at our version). */
function judge0Id(language: string): number {
  const id = primaryJudge0Id(language, null);
  if (id === undefined) throw new Error(`no Judge0 id for ${language}`);
  return id;
}
