/**
 * A request with a compile phase, tests or a CPU-time limit becomes the sandbox's steps
 * (issue 14): a required compile step for a compiled language, then one run per test (or
 * one run without tests), each a fresh process with its own stdin and limits. Pure.
 *
 * Time: each step has its own wall-clock limit; the sandbox's deadline (`timeoutMs`) must
 * hold them all, or some run would be cut by the sandbox instead of by its own limit and get
 * the wrong verdict. So with tests, the compile's and the tests' wall-clock limits must add
 * up to at most the request's timeoutMs or, without one, KATA_EXEC_TIMEOUT_MS_MAX (else 422
 * TIME_BUDGET_EXCEEDED, nothing started); without timeoutMs the deadline is that sum plus
 * an allowance for the sandbox's start, capped by the maximum.
 *
 * outputFiles: read after the last step that ran (the tests share /code, one after the other;
 * after a failed compile, as the compile left it), by the collecting runner, which runs the
 * steps in a session-mode sandbox of its own.
 *
 * Memory: the sandbox gets the largest of the compile's, limits.memoryMb and the tests'
 * memoryMb; each step's own limit is the launcher's (peak RSS). A session's sandbox has its
 * memory already (`fixedMemoryMb`): there no step may ask for more, and the compile's default
 * is at most it.
 */
import { worstCaseExecutionBytes, type Config } from '../config.js';
import { InvalidRequestError, LimitExceededError, TimeBudgetExceededError, type FieldError } from '../errors.js';
import type { RuntimeKind } from '../schemas/common.js';
import type { Compare, ExecuteRequest, TestCase } from '../schemas/execute.js';
import type { SandboxStep } from '../sandbox/types.js';

/** What planning needs of a language (execution/languages.ts's Language has it). */
export interface PlanLanguage {
  name: string;
  compile?: { command: (file: string, extraArgs: string[]) => string[]; env?: string[] };
  command: (file: string, run?: { memoryMb?: number }) => string[];
}

/**
 * Room for the sandbox's start in a deadline derived from the steps (cold start on a loaded
 * host: runc well under a second, gVisor 1-2 s, a Kata VM under TCG about 10 s).
 */
export const START_ALLOWANCE_MS: Record<RuntimeKind, number> = { runc: 3000, gvisor: 5000, kata: 20000 };

/** The floor of a test's share of the answer's output (see answerBytesPerTest). */
export const MIN_TEST_ANSWER_BYTES = 4096;

export interface PlannedTest {
  expectedOutput: string | undefined;
  timeoutMs: number;
  cpuTimeMs: number | null;
  memoryMb: number;
}

export interface StepPlan {
  steps: SandboxStep[];
  /** The compile's limits; null for an interpreted language. */
  compile: { timeoutMs: number; memoryMb: number; outputBytes: number } | null;
  /** One per test, in order; null without tests (then one run). */
  tests: PlannedTest[] | null;
  compare: Compare;
  /** The sandbox's memory (MiB) and deadline (ms). */
  memoryMb: number;
  timeoutMs: number;
  /** The CPU-time limit of a run without tests (tests have their own). */
  cpuTimeMs: number | null;
}

export interface PlanInput {
  req: ExecuteRequest;
  lang: PlanLanguage;
  /** The entry file's path in the sandbox, e.g. /code/main.c. */
  entryPath: string;
  /** The program's arguments, already checked. */
  args: string[];
  /** limits.memoryMb and limits.outputBytes, resolved; timeoutMs as resolved (default or asked). */
  memoryMb: number;
  outputBytes: number;
  timeoutMs: number;
  config: Pick<Config, 'limits' | 'judge'>;
  runtime: RuntimeKind;
  /** The sandbox's memory when it is already made (a session's): the steps' limits must fit in it. */
  fixedMemoryMb?: number;
}

/**
 * Whether a request goes through planSteps; otherwise it runs as one program, as before
 * issue 14. (`compile` and `compare` alone are refused there with the reason.)
 */
export function needsSteps(req: ExecuteRequest, lang: PlanLanguage): boolean {
  return lang.compile !== undefined || req.tests !== undefined || req.limits?.cpuTimeMs !== undefined || req.compile !== undefined || req.compare !== undefined;
}

/** Checks what the schema cannot (it knows neither the language nor the server's bounds). */
function check(req: ExecuteRequest, lang: PlanLanguage, config: PlanInput['config'], fixedMemoryMb: number | undefined): void {
  const fields: FieldError[] = [];
  if (req.compile && !lang.compile) fields.push({ path: '/compile', message: `${lang.name} is not a compiled language` });
  if (req.compare && !req.tests) fields.push({ path: '/compare', message: 'only with tests' });
  if (req.compare?.tolerance !== undefined && req.compare.mode !== 'numbers') fields.push({ path: '/compare/tolerance', message: 'only with mode "numbers"' });
  if (req.tests && req.stdin !== undefined) fields.push({ path: '/stdin', message: 'not with tests: each test has its own stdin' });
  if (fields.length) throw new InvalidRequestError(fields);
  const b = config.limits;
  const over: FieldError[] = [];
  const max = (path: string, v: number | undefined, m: number, what = '(server maximum)') => {
    if (v !== undefined && v > m && !over.some((o) => o.path === path)) over.push({ path, message: `must be at most ${m} ${what}` });
  };
  if (req.tests && req.tests.length > config.judge.maxTests) {
    over.push({ path: '/tests', message: `must have at most ${config.judge.maxTests} items (KATA_EXEC_MAX_TESTS)` });
  }
  max('/limits/cpuTimeMs', req.limits?.cpuTimeMs, b.timeoutMs.max, '(KATA_EXEC_TIMEOUT_MS_MAX)');
  max('/compile/timeoutMs', req.compile?.timeoutMs, b.timeoutMs.max, '(KATA_EXEC_TIMEOUT_MS_MAX)');
  max('/compile/memoryMb', req.compile?.memoryMb, b.memoryMb.max, '(KATA_EXEC_MEMORY_MB_MAX)');
  max('/compile/outputBytes', req.compile?.outputBytes, b.outputBytes.max, '(KATA_EXEC_OUTPUT_BYTES_MAX)');
  req.tests?.forEach((t, i) => {
    max(`/tests/${i}/timeoutMs`, t.timeoutMs, b.timeoutMs.max, '(KATA_EXEC_TIMEOUT_MS_MAX)');
    max(`/tests/${i}/cpuTimeMs`, t.cpuTimeMs, b.timeoutMs.max, '(KATA_EXEC_TIMEOUT_MS_MAX)');
    max(`/tests/${i}/memoryMb`, t.memoryMb, b.memoryMb.max, '(KATA_EXEC_MEMORY_MB_MAX)');
  });
  if (fixedMemoryMb !== undefined) {
    const session = `(the session's memoryMb)`;
    max('/compile/memoryMb', req.compile?.memoryMb, fixedMemoryMb, session);
    req.tests?.forEach((t, i) => max(`/tests/${i}/memoryMb`, t.memoryMb, fixedMemoryMb, session));
  }
  if (over.length) throw new LimitExceededError(over);
}

/** A test's wall-clock limit: its own, else KATA_EXEC_TEST_TIMEOUT_MS_DEFAULT (within the maximum). */
export function testTimeoutMs(t: Pick<TestCase, 'timeoutMs'>, config: PlanInput['config']): number {
  return t.timeoutMs ?? Math.min(config.judge.testTimeoutMs, config.limits.timeoutMs.max);
}

/** What the compile's and the tests' wall-clock limits may add up to: the request's timeoutMs, else KATA_EXEC_TIMEOUT_MS_MAX. */
export function stepBudgetMs(req: Pick<ExecuteRequest, 'timeoutMs'>, config: Pick<Config, 'limits'>): number {
  return req.timeoutMs ?? config.limits.timeoutMs.max;
}

/**
 * What an execution with these steps may make the service hold at worst, streamed: what
 * the executor checks against KATA_EXEC_MEMORY_BUDGET_MB before it queues anything.
 */
export function stepsWorstCaseBytes(outputBytes: number, steps: readonly Pick<SandboxStep, 'outputBytes'>[]): number {
  return worstCaseExecutionBytes(outputBytes, true) + stepCaptureBytes(steps);
}

/**
 * Whether a request with tests is small enough to be taken, by the rules planSteps and the
 * executor apply: at most KATA_EXEC_MAX_TESTS tests, the compile's and the tests' wall-clock
 * limits within its budget (else TIME_BUDGET_EXCEEDED), their captures within the memory
 * budget. Its other fields are not checked. For callers that build requests and must keep
 * each one valid (judge0/batch.ts puts several submissions in one request).
 */
export function testsFit(req: ExecuteRequest, compiled: boolean, config: Pick<Config, 'limits' | 'judge' | 'memoryBudgetBytes'>): boolean {
  const tests = req.tests ?? [];
  if (tests.length > config.judge.maxTests) return false;
  const compile = compiled ? compileLimits(req.compile, config) : null;
  const wallMs = (compile?.timeoutMs ?? 0) + tests.reduce((s, t) => s + testTimeoutMs(t, config), 0);
  if (wallMs > stepBudgetMs(req, config)) return false;
  // A run's output cap is limits.outputBytes as the executor resolves it (no profile changes it).
  const outputBytes = req.limits?.outputBytes ?? config.limits.outputBytes.default;
  const steps = [...(compile ? [compile] : []), ...tests.map(() => ({ outputBytes }))];
  return stepsWorstCaseBytes(outputBytes, steps) <= config.memoryBudgetBytes;
}

export function planSteps(p: PlanInput): StepPlan {
  const { req, lang, config } = p;
  check(req, lang, config, p.fixedMemoryMb);

  const steps: SandboxStep[] = [];
  let compile: StepPlan['compile'] = null;
  if (lang.compile) {
    compile = compileLimits(req.compile, config);
    if (p.fixedMemoryMb !== undefined && req.compile?.memoryMb === undefined) compile.memoryMb = Math.min(compile.memoryMb, p.fixedMemoryMb);
    steps.push({
      command: lang.compile.command(p.entryPath, req.compile?.args ?? []),
      ...(lang.compile.env?.length ? { env: [...lang.compile.env] } : {}),
      stdin: null,
      wallMs: compile.timeoutMs,
      cpuMs: null,
      memoryKb: compile.memoryMb * 1024,
      outputBytes: compile.outputBytes,
      required: true,
    });
  }

  const run = (stdin: string | undefined, wallMs: number, cpuMs: number | null, memoryMb: number): SandboxStep => ({
    command: [...lang.command(p.entryPath, { memoryMb }), ...p.args],
    stdin: stdin !== undefined && stdin.length > 0 ? Buffer.from(stdin, 'utf8') : null,
    wallMs,
    cpuMs,
    memoryKb: memoryMb * 1024,
    outputBytes: p.outputBytes,
    required: false,
  });

  const cpuTimeMs = req.limits?.cpuTimeMs ?? null;
  let tests: PlannedTest[] | null = null;
  if (req.tests) {
    tests = req.tests.map((t) => ({
      expectedOutput: t.expectedOutput,
      timeoutMs: testTimeoutMs(t, config),
      cpuTimeMs: t.cpuTimeMs ?? cpuTimeMs,
      memoryMb: t.memoryMb ?? p.memoryMb,
    }));
    req.tests.forEach((t, i) => {
      const pt = tests![i]!;
      steps.push(run(t.stdin, pt.timeoutMs, pt.cpuTimeMs, pt.memoryMb));
    });
  } else {
    // One run: its wall clock is the execution's timeout, as for a program without steps.
    steps.push(run(req.stdin, p.timeoutMs, cpuTimeMs, p.memoryMb));
  }

  const memoryMb = p.fixedMemoryMb ?? sandboxMemoryMb(p.memoryMb, compile, tests);
  const timeoutMs = deadline(p, compile, tests);
  return { steps, compile, tests, compare: req.compare ?? { mode: 'trailing_whitespace' }, memoryMb, timeoutMs, cpuTimeMs };
}

/** A compile's limits: the request's, else the server's defaults (each capped by its maximum). */
export function compileLimits(asked: ExecuteRequest['compile'], config: PlanInput['config']): NonNullable<StepPlan['compile']> {
  const b = config.limits;
  const j = config.judge;
  return {
    timeoutMs: asked?.timeoutMs ?? Math.min(j.compile.timeoutMs, b.timeoutMs.max),
    memoryMb: asked?.memoryMb ?? Math.min(j.compile.memoryMb, b.memoryMb.max),
    outputBytes: asked?.outputBytes ?? Math.min(j.compile.outputBytes, b.outputBytes.max),
  };
}

/**
 * The sandbox's memory (MiB): the largest of the run's, the compile's and the tests'. The
 * steps' own limits are the launcher's (peak RSS of each process, checked every 10 ms); the
 * sandbox's memory is the hard bound on all of a step's processes together.
 */
export function sandboxMemoryMb(runMb: number, compile: StepPlan['compile'], tests: readonly PlannedTest[] | null): number {
  return Math.max(runMb, compile?.memoryMb ?? 0, ...(tests ?? []).map((t) => t.memoryMb));
}

/** The sandbox's deadline; throws TIME_BUDGET_EXCEEDED when the steps cannot fit in it. */
function deadline(p: PlanInput, compile: StepPlan['compile'], tests: PlannedTest[] | null): number {
  const max = p.config.limits.timeoutMs.max;
  const asked = p.req.timeoutMs;
  const compileMs = compile?.timeoutMs ?? 0;
  const runsMs = tests ? tests.reduce((s, t) => s + t.timeoutMs, 0) : p.timeoutMs;
  // Without tests the one run may take whatever the deadline leaves it: only the compile must fit.
  const mustFit = tests ? compileMs + runsMs : compileMs;
  const budget = stepBudgetMs(p.req, p.config);
  if (mustFit > budget) {
    const parts = [compile ? `the compile's ${compileMs} ms` : null, tests ? `${tests.length} tests' ${runsMs} ms` : null].filter(Boolean).join(' and ');
    const where = asked !== undefined ? `the request's timeoutMs (${asked} ms)` : `the server's maximum timeout (${max} ms, KATA_EXEC_TIMEOUT_MS_MAX)`;
    throw new TimeBudgetExceededError(
      `${parts} of wall-clock limits add up to ${mustFit} ms, more than ${where}: lower tests[].timeoutMs or compile.timeoutMs, or send fewer tests`,
      [{ path: asked !== undefined ? '/timeoutMs' : tests ? '/tests' : '/compile/timeoutMs', message: `the steps need ${mustFit} ms, at most ${budget} ms` }],
    );
  }
  if (asked !== undefined) return asked;
  return Math.min(compileMs + runsMs + START_ALLOWANCE_MS[p.runtime], max);
}

/**
 * Bytes of each stream a test keeps in the answer (head and tail): the output cap shared
 * among the tests, never less than MIN_TEST_ANSWER_BYTES nor more than the cap. A run is
 * judged on all it wrote up to the cap; only the answer's copy is shorter.
 */
export function answerBytesPerTest(outputBytes: number, tests: number): number {
  return Math.min(outputBytes, Math.max(MIN_TEST_ANSWER_BYTES, Math.floor(outputBytes / Math.max(1, tests))));
}

/**
 * What steps add to an execution's worst case in memory, on top of the one program's
 * (config.ts, worstCaseExecutionBytes): each step's two captures, held by the runner until
 * the end (2 x its cap), and their text and JSON in the answer (at most 4 x more).
 */
export function stepCaptureBytes(steps: readonly Pick<SandboxStep, 'outputBytes'>[] | undefined): number {
  return (steps ?? []).reduce((s, st) => s + 6 * st.outputBytes, 0);
}
