/**
 * Judging (issue 14), pure: how a run's output is compared with what a test expects, and
 * which verdict a run gets from how it ended, what it used and what it printed.
 */
import type { Compare, CompareMode, Verdict } from '../schemas/execute.js';
import type { StepLimit, Usage } from '../sandbox/types.js';

/** `numbers` without a tolerance of its own. */
export const DEFAULT_TOLERANCE = 1e-6;

/** Lines without their trailing blanks (space, tab, CR, FF, VT), without the trailing empty lines. */
function trimmedLines(s: string): string[] {
  const lines = s.split('\n').map((l) => l.replace(/[ \t\r\f\v]+$/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Whitespace-separated words (ASCII whitespace: a judge's tokens, never U+00A0 and the like). */
export function tokensOf(s: string): string[] {
  return s.split(/[ \t\n\r\f\v]+/).filter((t) => t.length > 0);
}

/** A decimal number as judges write them: sign, digits, a point, an exponent. Not nan, inf or hex. */
const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Two tokens under `numbers`: two numbers are equal when |got - expected| is at most the
 * tolerance, absolute or relative to the expected one (a few ULPs of slack, so that 1.000000001
 * against 1 passes at 1e-9 as written); anything else (nan, inf, words) must be the same text.
 */
export function numbersEqual(got: string, expected: string, tolerance: number): boolean {
  if (got === expected) return true;
  if (!NUMBER_RE.test(got) || !NUMBER_RE.test(expected)) return false;
  const a = Number(got);
  const b = Number(expected);
  // Past the doubles (1e999): only the same text, already checked.
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  if (a === b) return true; // -0 and 0, 1.50 and 1.5
  const diff = Math.abs(a - b);
  const slack = 2 ** -50 * Math.max(Math.abs(a), Math.abs(b));
  return diff <= tolerance * Math.max(1, Math.abs(b)) + slack;
}

/** Whether `got` (a run's stdout) matches `expected` under the mode. */
export function outputMatches(got: string, expected: string, compare: Compare = { mode: 'trailing_whitespace' }): boolean {
  const mode: CompareMode = compare.mode;
  switch (mode) {
    case 'exact':
      return got === expected;
    case 'trailing_whitespace': {
      const a = trimmedLines(got);
      const b = trimmedLines(expected);
      return a.length === b.length && a.every((l, i) => l === b[i]);
    }
    case 'tokens': {
      const a = tokensOf(got);
      const b = tokensOf(expected);
      return a.length === b.length && a.every((t, i) => t === b[i]);
    }
    case 'numbers': {
      const tol = compare.tolerance ?? DEFAULT_TOLERANCE;
      const a = tokensOf(got);
      const b = tokensOf(expected);
      return a.length === b.length && a.every((t, i) => numbersEqual(t, b[i]!, tol));
    }
  }
}

/** What judging needs of one run. */
export interface RunOutcome {
  exitCode: number | null;
  signal: string | null;
  /** Which limit ended it (the launcher's); null when it ended by itself. */
  limit: StepLimit | null;
  usage: Usage | null;
  /** Its stdout as text, and whether some of it was left out (past the output cap). */
  stdout: string;
  stdoutDropped: boolean;
}

/** The limits the run had, as the launcher got them. */
export interface RunLimits {
  cpuMs: number | null;
  memoryKb: number | null;
}

/**
 * The verdict of one run. First which limit ended it; then what it used (a run that ended by
 * itself a little past its CPU or memory limit, between two of the launcher's checks, is
 * still past it); then output past the cap (it cannot be judged whole); then a non-zero
 * exit or a signal; last its output against `expected` (absent: not compared).
 */
export function verdictOf(run: RunOutcome, limits: RunLimits, expected: string | undefined, compare?: Compare): Verdict {
  switch (run.limit) {
    case 'wall':
    case 'cpu':
      return 'time_limit';
    case 'memory':
    case 'oom':
      return 'memory_limit';
    case 'output':
      return 'output_limit';
    case 'pids':
      // Its processes passed the pids limit and the sandbox ended (gVisor's backstop).
      return 'runtime_error';
    case null:
      break;
  }
  if (run.usage && limits.cpuMs !== null && run.usage.cpuUserMs + run.usage.cpuSysMs > limits.cpuMs) return 'time_limit';
  if (run.usage && limits.memoryKb !== null && run.usage.maxRssKb > limits.memoryKb) return 'memory_limit';
  if (run.stdoutDropped) return 'output_limit';
  if (run.signal !== null || run.exitCode !== 0) return 'runtime_error';
  if (expected !== undefined && !outputMatches(run.stdout, expected, compare)) return 'wrong_answer';
  return 'accepted';
}

/** The first verdict other than accepted, in test order; accepted when there is none. */
export function overallVerdict(verdicts: readonly Verdict[]): Verdict {
  return verdicts.find((v) => v !== 'accepted') ?? 'accepted';
}

/** Tests accepted out of those asked for (tests that never ran count as not passed). */
export function summaryOf(verdicts: readonly Verdict[], total: number): { passed: number; total: number } {
  return { passed: verdicts.filter((v) => v === 'accepted').length, total };
}
