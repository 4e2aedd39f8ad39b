/**
 * /judge0 against the real containerd, on every runtime of TEST_RUNTIMES, as a Judge0
 * client calls it (real HTTP, X-Auth-Token): accepted, wrong answer, a runtime error
 * (NZEC), a CPU-time limit, a memory limit, C compiled (accepted, a compilation error), a
 * batch of three answered in order; and every language of the full image in one batch each
 * (test/helpers/judge-programs.ts): Accepted, Wrong Answer, its runtime error, Time Limit
 * Exceeded, the memory limit and its broken source, the judge program's five submissions run
 * as one execution (one compile). No fake anywhere.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLanguage } from '../../src/execution/languages.js';
import { JUDGE_PROGRAMS } from '../helpers/judge-programs.js';
import { API_KEYS, TOKENS } from '../helpers/keys.js';
import { counter, NO_LEAKS, type RealService, settledLeaks, startRealService, testRuntimes, useService } from '../helpers/real-service.js';

interface Submission {
  token: string;
  stdout: string | null;
  stderr: string | null;
  compile_output: string | null;
  message: string | null;
  exit_code?: number | null;
  exit_signal?: number | null;
  status: { id: number; description: string };
  time: string | null;
  wall_time?: string | null;
  memory: number | null;
}

async function judge0<T>(svc: RealService, path: string, body: unknown): Promise<{ status: number; json: T }> {
  const res = await request(`${svc.url}/judge0${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-auth-token': TOKENS.alice },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, json: (await res.body.json()) as T };
}

async function submit(svc: RealService, body: Record<string, unknown>, query = ''): Promise<Submission> {
  const r = await judge0<Submission>(svc, `/submissions?wait=true${query}`, body);
  if (r.status !== 201) throw new Error(`expected 201, got ${r.status}: ${JSON.stringify(r.json)}`);
  return r.json;
}

const ECHO_SUM = 'a, b = map(int, input().split())\nprint(a + b)';

describe.each(testRuntimes())('Judge0 endpoint on %s', (runtime) => {
  const svc = useService(runtime, { KATA_EXEC_API_KEYS: API_KEYS }, { leaksEach: true });

  it('python: Accepted, with time, wall time and memory of the run', async () => {
    const s = await submit(svc(), { language_id: 71, source_code: ECHO_SUM, stdin: '2 40\n', expected_output: '42' }, '&fields=*');
    expect(s).toMatchObject({ stdout: '42\n', stderr: null, compile_output: null, message: null, exit_code: 0, exit_signal: null, status: { id: 3, description: 'Accepted' } });
    expect(Number(s.time)).toBeGreaterThan(0);
    expect(Number(s.wall_time)).toBeGreaterThanOrEqual(Number(s.time) / 4);
    expect(s.memory).toBeGreaterThan(1000);
    expect(s.token).toMatch(/^kx-/);
  });

  it('python: Wrong Answer, with what it printed', async () => {
    const s = await submit(svc(), { language_id: 92, source_code: ECHO_SUM, stdin: '2 2', expected_output: '5' });
    expect(s).toMatchObject({ stdout: '4\n', status: { id: 4, description: 'Wrong Answer' } });
  });

  it('python: Runtime Error (NZEC), with the exit code and stderr, in Base64 when asked', async () => {
    const code = 'import sys\nprint("bad input", file=sys.stderr)\nsys.exit(3)';
    const s = await submit(svc(), { language_id: 71, source_code: Buffer.from(code).toString('base64') }, '&base64_encoded=true&fields=status,exit_code,stderr,message');
    expect(s).toEqual({ status: { id: 11, description: 'Runtime Error (NZEC)' }, exit_code: 3, stderr: Buffer.from('bad input\n').toString('base64'), message: Buffer.from('Exited with error status 3').toString('base64') });
  });

  it('python: Time Limit Exceeded at the CPU-time limit', async () => {
    const s = await submit(svc(), { language_id: 71, source_code: 'while True:\n    pass', cpu_time_limit: 0.5, wall_time_limit: 10 });
    expect(s).toMatchObject({ status: { id: 5, description: 'Time Limit Exceeded' }, message: 'Time limit exceeded' });
  });

  it('python: past memory_limit is Runtime Error (Other), "Memory limit exceeded" (Judge0 has no status of its own)', async () => {
    const s = await submit(svc(), { language_id: 71, source_code: "b = b'x' * (256 * 1024 * 1024)\nprint(len(b))", memory_limit: 65536 }, '&fields=status,message,stdout');
    expect(s).toEqual({ status: { id: 12, description: 'Runtime Error (Other)' }, message: 'Memory limit exceeded', stdout: null });
  });

  // The documentation's C program ("Create a Submission", wait=true).
  const C_HELLO = '#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf("%s", name);\n  printf("hello, %s\\n", name);\n  return 0;\n}';

  it("C: the documentation's example compiles with compiler_options and is Accepted", async () => {
    const s = await submit(svc(), { language_id: '50', source_code: C_HELLO, stdin: 'Judge0', expected_output: 'hello, Judge0', compiler_options: '-Wall -O1' });
    expect(s).toMatchObject({ stdout: 'hello, Judge0\n', compile_output: null, status: { id: 3, description: 'Accepted' } });
  });

  it("C: a Compilation Error, with the compiler's messages and nothing of a run", async () => {
    const s = await submit(svc(), { language_id: 50, source_code: C_HELLO.replace('return 0;', 'return 0'), stdin: 'Judge0' }, '&fields=*');
    expect(s).toMatchObject({ status: { id: 6, description: 'Compilation Error' }, stdout: null, stderr: null, time: null, memory: null, exit_code: null });
    expect(s.compile_output).toMatch(/main\.c:7:\d+: error: expected .;. before/);
  });

  it('a batch of three runs each, answered in order', async () => {
    const subs = [
      { language_id: 71, source_code: ECHO_SUM, stdin: '1 2', expected_output: '3' },
      { language_id: 71, source_code: ECHO_SUM, stdin: '1 2', expected_output: '4' },
      { language_id: 46, source_code: 'read a b; echo $((a / b))', stdin: '1 0' },
    ];
    const r = await judge0<Submission[]>(svc(), '/submissions/batch?wait=true', { submissions: subs });
    expect(r.status).toBe(201);
    expect(r.json.map((s) => [s.status.id, s.stdout])).toEqual([
      [3, '3\n'],
      [4, '3\n'],
      [11, null],
    ]);
    expect(new Set(r.json.map((s) => s.token)).size).toBe(3);
  });
});

/** A Judge0 id of each language (GET /judge0/languages lists one per language). */
const LANGUAGE_ID: Record<string, number> = { python: 71, javascript: 63, bash: 46, c: 50, cpp: 54, go: 60, rust: 73, java: 62, typescript: 74, ruby: 72, php: 68, perl: 85 };

/**
 * How each judge program's `crash` ends, in Judge0's terms: an uncaught exception or a
 * panic is a non-zero exit (11, NZEC, with the language's exit code), abort() a signal
 * (10, SIGABRT: C's abort, and C++'s std::terminate for an uncaught exception).
 */
const CRASH: Record<string, { status: number; exit_code: number; exit_signal: number | null }> = {
  python: { status: 11, exit_code: 1, exit_signal: null },
  javascript: { status: 11, exit_code: 1, exit_signal: null },
  bash: { status: 11, exit_code: 3, exit_signal: null },
  c: { status: 10, exit_code: 0, exit_signal: 6 },
  cpp: { status: 10, exit_code: 0, exit_signal: 6 },
  go: { status: 11, exit_code: 2, exit_signal: null },
  rust: { status: 11, exit_code: 101, exit_signal: null },
  java: { status: 11, exit_code: 1, exit_signal: null },
  typescript: { status: 11, exit_code: 1, exit_signal: null },
  ruby: { status: 11, exit_code: 1, exit_signal: null },
  php: { status: 11, exit_code: 255, exit_signal: null },
  perl: { status: 11, exit_code: 255, exit_signal: null },
};

const FIELDS = 'token,status,stdout,stderr,compile_output,message,exit_code,exit_signal';

describe.each(testRuntimes())('Judge0 batches of every language on %s', (runtime) => {
  let svc: RealService;

  beforeAll(async () => {
    // Room for slow compiles on a loaded host (gVisor): a compile may take 50 s, and with it
    // five runs of 4 s still fit in one execution (the maximum timeout).
    svc = await startRealService(runtime, { KATA_EXEC_API_KEYS: API_KEYS, KATA_EXEC_COMPILE_TIMEOUT_MS_DEFAULT: '50000', KATA_EXEC_TIMEOUT_MS_MAX: '90000' });
  });
  afterAll(async () => {
    await svc?.close();
    expect(await settledLeaks(svc.runDir)).toEqual(NO_LEAKS);
  });

  it.each(Object.keys(JUDGE_PROGRAMS))(
    '%s: Accepted, Wrong Answer, its runtime error, Time Limit Exceeded, the memory limit, its broken source; the judge program compiled and run once for five submissions',
    async (language) => {
      const compiled = findLanguage(language)!.compile !== undefined;
      const p = JUDGE_PROGRAMS[language]!;
      // Room for the JVM's heap in every run but the hog's.
      const run = { language_id: LANGUAGE_ID[language], source_code: p.judge, wall_time_limit: 4, memory_limit: 1024 * 1024 };
      const submissions = [
        { ...run, stdin: 'double 21', expected_output: '42' },
        { ...run, stdin: 'double 5', expected_output: '11' },
        { ...run, stdin: 'crash' },
        { ...run, stdin: 'spin', cpu_time_limit: 1 },
        { ...run, stdin: 'hog', memory_limit: 64 * 1024 },
        { language_id: LANGUAGE_ID[language], source_code: p.broken, stdin: '1', wall_time_limit: 4 },
      ];
      const executions = await counter(svc, 'kata_exec_executions_total');
      const r = await judge0<Submission[]>(svc, `/submissions/batch?wait=true&fields=${FIELDS}`, { submissions });
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      const [double21, double5, crash, spin, hog, broken] = r.json as [Submission, Submission, Submission, Submission, Submission, Submission];
      const seen = JSON.stringify(r.json.map((s) => [s.status.id, s.exit_code, s.exit_signal, s.message, (s.stderr ?? '').slice(0, 200), (s.compile_output ?? '').slice(0, 200)]));

      expect(double21, seen).toMatchObject({ status: { id: 3 }, stdout: '42\n', compile_output: null });
      expect(double5, seen).toMatchObject({ status: { id: 4 }, stdout: '10\n' });
      expect({ status: crash.status.id, exit_code: crash.exit_code, exit_signal: crash.exit_signal }, seen).toEqual(CRASH[language]);
      expect(crash.stdout, seen).toBe('before\n');
      expect(spin, seen).toMatchObject({ status: { id: 5, description: 'Time Limit Exceeded' }, message: 'Time limit exceeded' });
      expect(hog, seen).toMatchObject({ status: { id: 12, description: 'Runtime Error (Other)' }, message: 'Memory limit exceeded', stdout: null });
      if (compiled) {
        expect(broken, seen).toMatchObject({ status: { id: 6, description: 'Compilation Error' }, stdout: null, exit_code: null });
        expect(broken.compile_output!.length, seen).toBeGreaterThan(0);
      } else {
        expect(broken.status, seen).toEqual({ id: 11, description: 'Runtime Error (NZEC)' });
      }

      // Two executions, not six: the judge program's five submissions ran together (one
      // sandbox, one compile), their tokens its id and their place in it.
      expect(await counter(svc, 'kata_exec_executions_total')).toBe(executions + 2);
      const id = /^(kx-[0-9a-f]{20})-0$/.exec(double21.token)?.[1];
      expect(r.json.slice(0, 5).map((s) => s.token)).toEqual([0, 1, 2, 3, 4].map((n) => `${id}-${n}`));
      expect(broken.token).toMatch(/^kx-[0-9a-f]{20}$/);
      expect(broken.token).not.toBe(id);
    },
  );
});
