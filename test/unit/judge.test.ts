/** Judging (src/execution/judge.ts): the comparison modes, the verdicts of a run, the overall verdict. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { numbersEqual, outputMatches, overallVerdict, summaryOf, tokensOf, verdictOf, type RunOutcome } from '../../src/execution/judge.js';
import type { Compare, CompareMode, Verdict } from '../../src/schemas/execute.js';

const MODES: CompareMode[] = ['exact', 'trailing_whitespace', 'tokens', 'numbers'];
const matches = (got: string, expected: string, mode: CompareMode, tolerance?: number) =>
  outputMatches(got, expected, { mode, ...(tolerance !== undefined ? { tolerance } : {}) } as Compare);

/** Words with no whitespace in them (printable ASCII and some non-ASCII letters). */
const word = fc.string({ unit: fc.constantFrom(...'abcXYZ019.-+eé中_'.split('')), minLength: 1, maxLength: 6 });
const blank = fc.string({ unit: fc.constantFrom(' ', '\t', '\r', '\n', '\f', '\v'), minLength: 1, maxLength: 4 });
const text = fc.string({ unit: fc.constantFrom(...'ab1 .\t\r\n-'.split('')), maxLength: 40 });

describe('outputMatches: properties', () => {
  it('a text matches itself in every mode', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => MODES.every((m) => matches(s, s, m))), { numRuns: 300 });
  });

  it('each mode is at least as lenient as the one before: exact => trailing_whitespace => tokens => numbers', () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        if (matches(a, b, 'exact')) expect(matches(a, b, 'trailing_whitespace')).toBe(true);
        if (matches(a, b, 'trailing_whitespace')) expect(matches(a, b, 'tokens')).toBe(true);
        if (matches(a, b, 'tokens')) expect(matches(a, b, 'numbers')).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('tokens: the same words under any whitespace layout match; one word changed does not', () => {
    fc.assert(
      fc.property(
        fc.array(word, { minLength: 1, maxLength: 8 }),
        fc.array(blank, { minLength: 10, maxLength: 10 }),
        fc.array(blank, { minLength: 10, maxLength: 10 }),
        fc.nat(),
        (words, sepA, sepB, at) => {
          const layout = (seps: string[]) => seps[9]!.slice(1) + words.map((w, i) => w + seps[i]!).join('');
          const a = layout(sepA);
          const b = layout(sepB);
          expect(tokensOf(a)).toEqual(words);
          expect(matches(a, b, 'tokens')).toBe(true);
          const changed = [...words];
          const i = at % words.length;
          changed[i] = `${changed[i]}x`;
          expect(matches(changed.join(' '), b, 'tokens')).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('trailing_whitespace: blanks at line ends and empty lines at the end never matter; a blank inside a line does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: fc.constantFrom('a', 'b', ' ', '1'), maxLength: 8 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.string({ unit: fc.constantFrom(' ', '\t', '\r'), maxLength: 3 }), { minLength: 6, maxLength: 6 }),
        fc.nat({ max: 3 }),
        (lines, trailing, emptyLines) => {
          const expected = lines.join('\n');
          const got = lines.map((l, i) => l + trailing[i]!).join('\n') + '\n'.repeat(emptyLines);
          expect(matches(got, expected, 'trailing_whitespace')).toBe(true);
          // A leading blank added to a non-empty line is a difference.
          const i = lines.findIndex((l) => l.trim() !== '');
          if (i >= 0) {
            const moved = lines.map((l, j) => (j === i ? ` ${l}` : l)).join('\n');
            expect(matches(moved, expected, 'trailing_whitespace')).toBe(false);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('numbers: within the tolerance (absolute or relative) accepted, well past it refused', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e12, max: 1e12, noNaN: true, noDefaultInfinity: true }),
        fc.constantFrom(1e-9, 1e-6, 1e-3),
        fc.double({ min: -0.5, max: 0.5, noNaN: true }),
        (x, tol, f) => {
          const scale = tol * Math.max(1, Math.abs(x));
          expect(numbersEqual(String(x + f * scale), String(x), tol)).toBe(true);
          expect(numbersEqual(String(x + 3 * scale), String(x), tol)).toBe(false);
          expect(numbersEqual(String(x - 3 * scale), String(x), tol)).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('outputMatches: the tricky cases', () => {
  it('CRLF against LF: only the lenient modes accept', () => {
    expect(matches('1\r\n2\r\n', '1\n2\n', 'exact')).toBe(false);
    expect(matches('1\r\n2\r\n', '1\n2\n', 'trailing_whitespace')).toBe(true);
    expect(matches('1\r\n2\r\n', '1\n2\n', 'tokens')).toBe(true);
  });

  it('a missing trailing newline: only exact refuses', () => {
    expect(matches('42', '42\n', 'exact')).toBe(false);
    for (const m of ['trailing_whitespace', 'tokens', 'numbers'] as const) expect(matches('42', '42\n', m)).toBe(true);
    expect(matches('42\n\n\n', '42', 'trailing_whitespace')).toBe(true);
  });

  it('an empty line inside the output counts for trailing_whitespace, not for tokens', () => {
    expect(matches('1\n\n2\n', '1\n2\n', 'trailing_whitespace')).toBe(false);
    expect(matches('1\n\n2\n', '1\n2\n', 'tokens')).toBe(true);
  });

  it('empty output against an expected empty (or blank) output', () => {
    expect(matches('', '', 'exact')).toBe(true);
    expect(matches('', '\n', 'trailing_whitespace')).toBe(true);
    expect(matches('', '  \n', 'tokens')).toBe(true);
    expect(matches('', '0', 'numbers')).toBe(false);
  });

  it('-0 and 0, 1.50 and 1.5, 1e3 and 1000 are the same number; not the same token', () => {
    expect(matches('-0', '0', 'numbers', 0)).toBe(true);
    expect(matches('1.50 1e3', '1.5 1000', 'numbers', 0)).toBe(true);
    expect(matches('-0', '0', 'tokens')).toBe(false);
  });

  it('1e-9 tolerance: as written at the boundary accepted, twice past it refused, relative for large numbers', () => {
    expect(matches('1.000000001', '1', 'numbers', 1e-9)).toBe(true);
    expect(matches('1.000000002', '1', 'numbers', 1e-9)).toBe(false);
    expect(matches('0.30000000000000004', '0.3', 'numbers', 1e-9)).toBe(true);
    expect(matches('1000000000.5', '1000000000.4', 'numbers', 1e-9)).toBe(true);
    expect(matches('1000000001', '1000000000', 'numbers', 1e-9)).toBe(true);
    expect(matches('1000000003', '1000000000', 'numbers', 1e-9)).toBe(false);
  });

  it('NaN, inf and words are compared as text, never as numbers', () => {
    expect(matches('nan', 'nan', 'numbers')).toBe(true);
    expect(matches('NaN', 'nan', 'numbers')).toBe(false);
    expect(matches('nan', '0', 'numbers', 1)).toBe(false);
    expect(matches('inf', '1e999', 'numbers')).toBe(false);
    expect(matches('1e999', '2e999', 'numbers')).toBe(false);
    expect(matches('yes 3.0', 'yes 3', 'numbers')).toBe(true);
    expect(matches('YES 3', 'yes 3', 'numbers')).toBe(false);
    expect(matches('0x10', '16', 'numbers')).toBe(false);
  });

  it('a different number of tokens is refused whatever the tolerance', () => {
    expect(matches('1 2', '1 2 3', 'numbers', 1)).toBe(false);
    expect(matches('1 2 3', '1 2', 'tokens')).toBe(false);
  });

  it('numbers without a tolerance use 1e-6', () => {
    expect(outputMatches('1.0000005', '1', { mode: 'numbers' })).toBe(true);
    expect(outputMatches('1.000002', '1', { mode: 'numbers' })).toBe(false);
  });
});

const ran = (o: Partial<RunOutcome> = {}): RunOutcome => ({
  exitCode: 0,
  signal: null,
  limit: null,
  usage: { cpuUserMs: 10, cpuSysMs: 2, maxRssKb: 5000 },
  stdout: '3\n',
  stdoutDropped: false,
  ...o,
});
const noLimits = { cpuMs: null, memoryKb: null };

describe('verdictOf', () => {
  it('accepted: exit 0 and the expected output (or none expected)', () => {
    expect(verdictOf(ran(), noLimits, '3')).toBe('accepted');
    expect(verdictOf(ran(), noLimits, undefined)).toBe('accepted');
  });

  it('wrong_answer: exit 0 and another output, per the compare mode', () => {
    expect(verdictOf(ran(), noLimits, '4')).toBe('wrong_answer');
    expect(verdictOf(ran({ stdout: '3 \n' }), noLimits, '3', { mode: 'exact' })).toBe('wrong_answer');
    expect(verdictOf(ran({ stdout: '3 \n' }), noLimits, '3')).toBe('accepted');
  });

  it('time_limit: ended by the wall clock or the CPU limit, or past its CPU limit when it ended', () => {
    expect(verdictOf(ran({ limit: 'wall', exitCode: null, signal: 'SIGKILL' }), noLimits, '3')).toBe('time_limit');
    expect(verdictOf(ran({ limit: 'cpu', exitCode: null, signal: 'SIGKILL' }), { cpuMs: 100, memoryKb: null }, '3')).toBe('time_limit');
    // Its processes passed the pids limit and the sandbox ended with them (gVisor's backstop).
    expect(verdictOf(ran({ limit: 'pids', exitCode: null, signal: null, usage: null }), noLimits, '3')).toBe('runtime_error');
    expect(verdictOf(ran({ usage: { cpuUserMs: 90, cpuSysMs: 20, maxRssKb: 1 } }), { cpuMs: 100, memoryKb: null }, '3')).toBe('time_limit');
    expect(verdictOf(ran({ usage: { cpuUserMs: 90, cpuSysMs: 10, maxRssKb: 1 } }), { cpuMs: 100, memoryKb: null }, '3')).toBe('accepted');
  });

  it("memory_limit: the step's memory limit or the kernel's OOM killer, or a peak past the limit", () => {
    expect(verdictOf(ran({ limit: 'memory', exitCode: null, signal: 'SIGKILL' }), noLimits, '3')).toBe('memory_limit');
    expect(verdictOf(ran({ limit: 'oom', exitCode: 137, signal: 'SIGKILL' }), noLimits, '3')).toBe('memory_limit');
    expect(verdictOf(ran({ usage: { cpuUserMs: 1, cpuSysMs: 1, maxRssKb: 70000 } }), { cpuMs: null, memoryKb: 65536 }, '3')).toBe('memory_limit');
  });

  it('output_limit: killed for its output, or stdout past the cap (it cannot be judged whole)', () => {
    expect(verdictOf(ran({ limit: 'output', exitCode: null, signal: 'SIGKILL' }), noLimits, '3')).toBe('output_limit');
    expect(verdictOf(ran({ stdoutDropped: true }), noLimits, '3')).toBe('output_limit');
  });

  it('runtime_error: a non-zero exit or a signal, whatever it printed', () => {
    expect(verdictOf(ran({ exitCode: 1 }), noLimits, '3')).toBe('runtime_error');
    expect(verdictOf(ran({ exitCode: 139, signal: 'SIGSEGV' }), noLimits, '3')).toBe('runtime_error');
    expect(verdictOf(ran({ exitCode: null, usage: null }), noLimits, undefined)).toBe('runtime_error');
  });

  it('which limit ended the run comes first: a run killed at its CPU limit that also printed the answer is time_limit', () => {
    fc.assert(
      fc.property(fc.constantFrom('wall', 'cpu', 'memory', 'oom', 'output') as fc.Arbitrary<RunOutcome['limit']>, fc.boolean(), (limit, dropped) => {
        const v = verdictOf(ran({ limit, stdoutDropped: dropped, exitCode: 0 }), { cpuMs: 1, memoryKb: 1 }, '3');
        const want: Record<string, Verdict> = { wall: 'time_limit', cpu: 'time_limit', memory: 'memory_limit', oom: 'memory_limit', output: 'output_limit' };
        expect(v).toBe(want[limit!]);
      }),
    );
  });
});

describe('overallVerdict and summaryOf', () => {
  it('the first verdict other than accepted, in test order; accepted when all are', () => {
    expect(overallVerdict(['accepted', 'wrong_answer', 'time_limit'])).toBe('wrong_answer');
    expect(overallVerdict(['time_limit', 'wrong_answer'])).toBe('time_limit');
    expect(overallVerdict(['accepted', 'accepted'])).toBe('accepted');
  });

  it('passed counts the accepted ones out of those asked for', () => {
    expect(summaryOf(['accepted', 'wrong_answer', 'accepted'], 3)).toEqual({ passed: 2, total: 3 });
    expect(summaryOf([], 3)).toEqual({ passed: 0, total: 3 });
  });
});
