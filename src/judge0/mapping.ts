/**
 * A Judge0 submission becomes an ExecuteRequest (one test per run carrying stdin and
 * expected_output, compiled first in a compiled language), and an ExecuteResult becomes
 * Judge0's answer: its status ids, field names and units (seconds, kilobytes). Pure: the
 * route (src/http/routes/judge0.ts) runs the request through the ExecutionService.
 */
import { ErrorCode, InvalidRequestError, KataExecError, NotSupportedError, type FieldError } from '../errors.js';
import { findLanguage } from '../execution/languages.js';
import type { CompileResult, ExecuteRequest, ExecuteResult, TestCase, TestResult } from '../schemas/execute.js';
import type { Judge0Submission, Judge0SubmissionResult } from '../schemas/judge0.js';
import { languageOfJudge0Id } from './languages.js';
import { shellWords } from './shell-words.js';
import { Status, signalNumber, statusById, statusOfSignal } from './statuses.js';

/** Judge0's MAX_NUMBER_OF_RUNS and MAX_CPU_EXTRA_TIME defaults. */
export const MAX_NUMBER_OF_RUNS = 20;
export const MAX_CPU_EXTRA_TIME_S = 5;

export type JudgeRequest = ExecuteRequest;
export type JudgeResult = ExecuteResult;
export type TestOutcome = TestResult;
type JudgedTest = TestCase;

/** What the answer echoes of the submission when `fields` asks for it (as it was sent). */
export type Echo = Omit<Judge0SubmissionResult, 'token' | 'stdout' | 'stderr' | 'compile_output' | 'message' | 'exit_code' | 'exit_signal' | 'status' | 'time' | 'wall_time' | 'memory' | 'created_at' | 'finished_at'>;

export interface Plan {
  request: JudgeRequest;
  languageId: number;
  language: string;
  echo: Echo;
}

// Base64, as Judge0 takes and gives it.

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Base64 text to UTF-8 text; null when it is not Base64 or not UTF-8 once decoded. */
export function decodeBase64Text(s: string): string | null {
  const compact = s.replace(/\s+/g, '');
  if (!B64.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) return null;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(compact, 'base64'));
  } catch {
    return null;
  }
}

export function encodeBase64Text(s: string | null): string | null {
  return s === null ? null : Buffer.from(s, 'utf8').toString('base64');
}

function num(v: number | string | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'number' ? v : Number(v);
}

function present(v: unknown): boolean {
  return v !== null && v !== undefined && v !== '';
}

/**
 * The ExecuteRequest of a submission. Throws VALIDATION_FAILED (bad values, Base64 that
 * is not), UNKNOWN_LANGUAGE (an id we do not run) or NOT_SUPPORTED (what would change
 * the result and cannot be done here); `prefix` goes before every field path (a batch's
 * `/submissions/3`).
 */
export function toExecuteRequest(sub: Judge0Submission, base64: boolean, prefix = ''): Plan {
  const languageId = Number(sub.language_id);
  const lid = languageOfJudge0Id(languageId);
  if (!lid) {
    throw new KataExecError(ErrorCode.UnknownLanguage, `language with id ${languageId} is not one this service runs; GET /judge0/languages lists the ids`, {
      fields: [{ path: `${prefix}/language_id`, message: `language with id ${languageId} is not one this service runs` }],
    });
  }

  const unsupported: FieldError[] = [];
  const refuse = (field: string, message: string) => unsupported.push({ path: `${prefix}/${field}`, message });
  if (present(sub.callback_url)) refuse('callback_url', 'callbacks are not supported: send wait=true and read the answer');
  if (present(sub.additional_files)) refuse('additional_files', 'additional files are not supported: put the program in source_code');
  if (present(sub.stack_limit)) refuse('stack_limit', 'a stack limit is not supported');
  if (present(sub.max_file_size)) refuse('max_file_size', 'a file-size limit is not supported (writes are bounded by the sandbox /tmp size)');
  if (sub.enable_per_process_and_thread_time_limit === true) refuse('enable_per_process_and_thread_time_limit', 'only false is supported: the CPU-time limit counts the whole program');
  if (sub.enable_per_process_and_thread_memory_limit === true) refuse('enable_per_process_and_thread_memory_limit', 'only false is supported');
  if (sub.redirect_stderr_to_stdout === true) refuse('redirect_stderr_to_stdout', 'only false is supported: stdout and stderr are captured apart');
  if (sub.enable_network === true) refuse('enable_network', 'only false is supported: the sandbox has no network');
  if (unsupported.length) throw new NotSupportedError(`not supported: ${unsupported.map((f) => `${f.path} (${f.message})`).join('; ')}`, unsupported);

  const bad: FieldError[] = [];
  const invalid = (field: string, message: string) => bad.push({ path: `${prefix}/${field}`, message });
  const text = (field: 'source_code' | 'stdin' | 'expected_output', v: string | null | undefined): string | undefined => {
    if (v === null || v === undefined) return undefined;
    if (!base64) return v;
    const d = decodeBase64Text(v);
    if (d === null) invalid(field, 'is not Base64 of UTF-8 text (base64_encoded=true)');
    return d ?? undefined;
  };
  const code = text('source_code', sub.source_code);
  const stdin = text('stdin', sub.stdin);
  const expected = text('expected_output', sub.expected_output);

  const runs = num(sub.number_of_runs) ?? 1;
  if (!Number.isInteger(runs) || runs < 1 || runs > MAX_NUMBER_OF_RUNS) invalid('number_of_runs', `must be an integer from 1 to ${MAX_NUMBER_OF_RUNS}`);
  const extra = num(sub.cpu_extra_time);
  if (extra !== null && extra > MAX_CPU_EXTRA_TIME_S) invalid('cpu_extra_time', `must be at most ${MAX_CPU_EXTRA_TIME_S}`);
  const seconds = (field: string, v: number | null): number | undefined => {
    if (v === null) return undefined;
    const ms = Math.round(v * 1000);
    if (ms < 1) invalid(field, 'must be at least 0.001 (seconds)');
    return ms;
  };
  const cpuTimeMs = seconds('cpu_time_limit', num(sub.cpu_time_limit));
  const timeoutMs = seconds('wall_time_limit', num(sub.wall_time_limit));
  const memoryKb = num(sub.memory_limit);
  const memoryMb = memoryKb === null ? undefined : Math.ceil(memoryKb / 1024);
  if (memoryMb !== undefined && memoryMb < 1) invalid('memory_limit', 'must be more than 0 (kilobytes)');
  const pids = num(sub.max_processes_and_or_threads);
  if (pids !== null && (!Number.isInteger(pids) || pids < 1)) invalid('max_processes_and_or_threads', 'must be an integer of at least 1');

  const words = (field: string, v: string | null | undefined): string[] | undefined => {
    if (!present(v)) return undefined;
    try {
      return shellWords(v!);
    } catch (e) {
      invalid(field, (e as Error).message);
      return undefined;
    }
  };
  const compilerArgs = words('compiler_options', sub.compiler_options);
  const lang = findLanguage(lid.language);
  if (compilerArgs?.length && lang && !lang.compile) invalid('compiler_options', 'is only for compiled languages');
  const args = words('command_line_arguments', sub.command_line_arguments);
  if (bad.length) throw new InvalidRequestError(bad);

  const test: JudgedTest = {
    ...(stdin !== undefined ? { stdin } : {}),
    ...(expected !== undefined ? { expectedOutput: expected } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(cpuTimeMs !== undefined ? { cpuTimeMs } : {}),
    ...(memoryMb !== undefined ? { memoryMb } : {}),
  };
  const request: JudgeRequest = {
    language: lid.language,
    code: code ?? '',
    ...(args?.length ? { args } : {}),
    ...(pids !== null ? { limits: { pids } } : {}),
    ...(compilerArgs?.length ? { compile: { args: compilerArgs } } : {}),
    tests: Array.from({ length: runs }, () => ({ ...test })),
    // Judge0 compares each line without its trailing whitespace, and the whole without trailing blank lines.
    compare: { mode: 'trailing_whitespace' },
  };
  const echo: Echo = {
    language_id: languageId,
    source_code: sub.source_code,
    stdin: sub.stdin ?? null,
    expected_output: sub.expected_output ?? null,
    compiler_options: sub.compiler_options ?? null,
    command_line_arguments: sub.command_line_arguments ?? null,
    cpu_time_limit: num(sub.cpu_time_limit),
    cpu_extra_time: extra,
    wall_time_limit: num(sub.wall_time_limit),
    memory_limit: memoryKb,
    stack_limit: null,
    max_processes_and_or_threads: pids,
    enable_per_process_and_thread_time_limit: false,
    enable_per_process_and_thread_memory_limit: false,
    max_file_size: null,
    redirect_stderr_to_stdout: false,
    enable_network: false,
    number_of_runs: runs,
    additional_files: null,
    callback_url: null,
  };
  return { request, languageId, language: lid.language, echo };
}

/** The Judge0 fields an error's paths name, for errors the service raises on the request it was given. */
const FIELD_OF_PATH: [RegExp, string][] = [
  [/^\/tests\/\d+\/cpuTimeMs$/, '/cpu_time_limit'],
  [/^\/limits\/cpuTimeMs$/, '/cpu_time_limit'],
  [/^\/tests\/\d+\/timeoutMs$/, '/wall_time_limit'],
  [/^\/timeoutMs$/, '/wall_time_limit'],
  [/^\/tests\/\d+\/memoryMb$/, '/memory_limit'],
  [/^\/limits\/memoryMb$/, '/memory_limit'],
  [/^\/limits\/pids$/, '/max_processes_and_or_threads'],
  [/^\/tests\/\d+\/stdin$/, '/stdin'],
  [/^\/tests\/\d+\/expectedOutput$/, '/expected_output'],
  [/^\/code$/, '/source_code'],
  [/^\/language$/, '/language_id'],
  [/^\/compile\/args(\/\d+)?$/, '/compiler_options'],
  [/^\/args(\/\d+)?$/, '/command_line_arguments'],
];

/** "must be at most 30000 (server maximum)" in the Judge0 field's unit. */
function inJudge0Units(field: string, message: string): string {
  const m = /^must be at most (\d+(?:\.\d+)?)(.*)$/.exec(message);
  if (!m) return message;
  const n = Number(m[1]);
  if (field === '/cpu_time_limit' || field === '/wall_time_limit') return `must be at most ${n / 1000}${m[2]} (seconds)`;
  if (field === '/memory_limit') return `must be at most ${n * 1024}${m[2]} (kilobytes)`;
  return message;
}

/**
 * An error about the ExecuteRequest this endpoint built, told in the submission's terms:
 * its field paths become Judge0's names (under `prefix`, or under the prefix of the
 * submission a path is about, for a request made of several: see judge0/batch.ts), its
 * maxima Judge0's units.
 */
export function inSubmissionTerms(err: unknown, prefix: string | ((path: string) => string) = ''): unknown {
  if (!(err instanceof KataExecError) || !err.fields?.length) return err;
  const under = typeof prefix === 'string' ? () => prefix : prefix;
  const fields = err.fields.map((f) => {
    const pre = under(f.path);
    // Too many tests: too many runs (KATA_EXEC_MAX_TESTS below number_of_runs).
    if (err.code === ErrorCode.LimitExceeded && f.path === '/tests') return { path: `${pre}/number_of_runs`, message: f.message };
    const hit = FIELD_OF_PATH.find(([re]) => re.test(f.path));
    if (!hit) return { path: `${pre}${f.path}`, message: f.message };
    return { path: `${pre}${hit[1]}`, message: inJudge0Units(hit[1], f.message) };
  });
  const lead = err.message.includes(':') ? err.message.slice(0, err.message.indexOf(':')) : err.message;
  const opts = { fields, ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}), cause: err };
  return new KataExecError(err.code, `${lead}: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}`, opts);
}

// The answer.

const seconds = (ms: number | null): string | null => (ms === null ? null : (ms / 1000).toFixed(3));
const orNull = (s: string | undefined): string | null => (s ? s : null);

interface Outcome {
  status: number;
  message: string | null;
  stdout: string | null;
  stderr: string | null;
  compileOutput: string | null;
  exitCode: number | null;
  exitSignal: number | null;
  time: string | null;
  wallTime: string | null;
  memory: number | null;
}

const NOTHING_RAN = { stdout: null, stderr: null, exitCode: null, exitSignal: null, time: null, wallTime: null, memory: null };

function compileOutput(c: CompileResult | undefined): string | null {
  if (!c) return null;
  if (c.status === 'timeout') return 'Compilation time limit exceeded.';
  const out = `${c.stdout}${c.stderr}`;
  if (out) return out;
  if (c.status === 'oom') return 'Compilation memory limit exceeded.';
  if (c.status === 'output_limit') return 'Compilation output limit exceeded.';
  return null;
}

function statusAndMessage(t: TestOutcome, killedBy: JudgeResult['killedBy']): { status: number; message: string | null } {
  switch (t.verdict) {
    case 'accepted':
      return { status: Status.accepted, message: null };
    case 'wrong_answer':
      return { status: Status.wrongAnswer, message: null };
    case 'time_limit':
      return { status: Status.timeLimit, message: 'Time limit exceeded' };
    case 'memory_limit':
      // Judge0 has no status of its own for it: its programs killed for memory end as "Other".
      return { status: Status.otherRuntimeError, message: 'Memory limit exceeded' };
    case 'output_limit':
      // Judge0's programs that write past max_file_size get SIGXFSZ.
      return { status: Status.sigxfsz, message: 'Output limit exceeded' };
    case 'runtime_error':
      // Ended with its sandbox for passing limits.pids (gVisor's backstop): no exit, no signal of its own.
      if (killedBy === 'pids_limit' && t.exitCode === null && !t.signal) return { status: Status.otherRuntimeError, message: 'Process limit exceeded' };
      if (t.signal) return { status: statusOfSignal(t.signal), message: `Caught fatal signal ${signalNumber(t.signal) ?? t.signal}` };
      return { status: Status.nzec, message: `Exited with error status ${t.exitCode ?? '?'}` };
  }
}

/**
 * The run a Judge0 answer describes. With several runs (number_of_runs), Judge0 stops at
 * the first that is not accepted and reports it, with time and memory averaged over the
 * runs made: here every run ran, and the same is read from them.
 */
function outcomeOf(r: JudgeResult, runs: number): Outcome {
  const compile = compileOutput(r.compile);
  if (r.status === 'compile_error') {
    return { status: Status.compilationError, message: null, compileOutput: compile, ...NOTHING_RAN };
  }
  const tests = r.tests ?? [];
  const failed = tests.findIndex((t) => t.verdict !== 'accepted');
  // The sandbox failed, or stopped before every run was made with all made accepted.
  if (r.status === 'sandbox_error' || tests.length === 0 || (failed === -1 && tests.length < runs)) {
    return { status: Status.internalError, message: 'the sandbox failed while running the program', compileOutput: compile, ...NOTHING_RAN };
  }
  const made = failed === -1 ? tests : tests.slice(0, failed + 1);
  const t = made.at(-1)!;
  const avg = (xs: (number | null)[]): number | null => (xs.some((x) => x === null) ? null : xs.reduce<number>((a, x) => a + x!, 0) / xs.length);
  const memory = avg(made.map((x) => x.maxRssKb));
  const { status, message } = statusAndMessage(t, r.killedBy);
  return {
    status,
    message,
    stdout: orNull(t.stdout),
    stderr: orNull(t.stderr),
    compileOutput: compile,
    // Judge0 (isolate) reports 0 when the program was ended by a signal.
    exitCode: t.signal ? 0 : (t.exitCode ?? 0),
    exitSignal: signalNumber(t.signal),
    time: seconds(avg(made.map((x) => x.cpuTimeMs))),
    wallTime: seconds(avg(made.map((x) => x.wallMs))),
    memory: memory === null ? null : Math.round(memory),
  };
}

export interface AnswerContext {
  plan: Plan;
  languageName: string;
  base64: boolean;
  createdAt: Date;
  finishedAt: Date;
}

/** Every attribute of the answer; `pickFields` keeps those asked for. */
export function toSubmissionResult(r: JudgeResult, ctx: AnswerContext): Judge0SubmissionResult {
  const o = outcomeOf(r, ctx.plan.request.tests?.length ?? 1);
  const enc = (s: string | null) => (ctx.base64 ? encodeBase64Text(s) : s);
  return {
    token: r.id,
    stdout: enc(o.stdout),
    stderr: enc(o.stderr),
    compile_output: enc(o.compileOutput),
    message: enc(o.message),
    exit_code: o.exitCode,
    exit_signal: o.exitSignal,
    status: statusById(o.status),
    time: o.time,
    wall_time: o.wallTime,
    memory: o.memory,
    created_at: ctx.createdAt.toISOString(),
    finished_at: ctx.finishedAt.toISOString(),
    language: { id: ctx.plan.languageId, name: ctx.languageName },
    ...ctx.plan.echo,
  };
}

/** Judge0's default answer: SubmissionSerializer's default fields. */
export const DEFAULT_FIELDS = ['token', 'time', 'memory', 'stdout', 'stderr', 'compile_output', 'message', 'status'] as const;

export const ALL_FIELDS = [
  'token', 'stdout', 'stderr', 'compile_output', 'message', 'exit_code', 'exit_signal', 'status', 'time', 'wall_time', 'memory',
  'created_at', 'finished_at', 'language_id', 'language', 'source_code', 'stdin', 'expected_output', 'compiler_options',
  'command_line_arguments', 'cpu_time_limit', 'cpu_extra_time', 'wall_time_limit', 'memory_limit', 'stack_limit',
  'max_processes_and_or_threads', 'enable_per_process_and_thread_time_limit', 'enable_per_process_and_thread_memory_limit',
  'max_file_size', 'redirect_stderr_to_stdout', 'enable_network', 'number_of_runs', 'additional_files', 'callback_url',
] as const satisfies readonly (keyof Judge0SubmissionResult)[];

/** `fields=` as Judge0 reads it: a comma-separated list, `*` for all; unknown names are refused. */
export function parseFields(fields: string | undefined, prefix = ''): readonly (keyof Judge0SubmissionResult)[] {
  const names = (fields ?? '').split(',').map((f) => f.trim()).filter(Boolean);
  if (names.includes('*')) return ALL_FIELDS;
  const unknown = names.filter((n) => !(ALL_FIELDS as readonly string[]).includes(n));
  if (unknown.length) {
    throw new InvalidRequestError([{ path: `${prefix}/fields`, message: `invalid fields: [${unknown.join(', ')}]` }]);
  }
  return names.length ? (names as (keyof Judge0SubmissionResult)[]) : DEFAULT_FIELDS;
}

export function pickFields(r: Judge0SubmissionResult, fields: readonly (keyof Judge0SubmissionResult)[]): Judge0SubmissionResult {
  return Object.fromEntries(fields.filter((f) => f in r).map((f) => [f, r[f]])) as Judge0SubmissionResult;
}
