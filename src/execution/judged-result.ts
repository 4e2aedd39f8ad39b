/**
 * The steps a sandbox ran (SandboxResult.steps) back into the answer: `compile`, `tests`
 * with their verdicts, the overall `verdict`, `summary` and `status`. Pure.
 */
import { decodeCapture } from '../sandbox/capture.js';
import type { CapturedStream, SandboxResult, StepLimit, StepResult } from '../sandbox/types.js';
import type { CompileResult, CompileStatus, ExecutionStatus, Summary, TestResult, Verdict } from '../schemas/execute.js';
import { boundStreamText } from '../queue/answer-size.js';
import { overallVerdict, summaryOf, verdictOf } from './judge.js';
import { answerBytesPerTest, type StepPlan } from './plan.js';

export interface Judged {
  status: ExecutionStatus;
  compile?: CompileResult;
  tests?: TestResult[];
  verdict?: Verdict | 'compile_error';
  summary?: Summary;
}

/** A stream as answer text, at most `budget` bytes as JSON (head and tail kept). */
function answerText(c: CapturedStream, cap: number, budget: number): { text: string; cut: boolean } {
  const b = boundStreamText(decodeCapture(c, cap), c.droppedBytes, budget);
  return { text: b.text, cut: b.droppedBytes > 0 };
}

/**
 * Which limit ended a step. A step whose end was never seen (no exit code, no signal, no
 * limit) was in progress when the sandbox itself was stopped: at its deadline, that is the
 * time the step had; at its pids cgroup (gVisor's backstop), the step's processes passed
 * its pids limit; otherwise the sandbox failed under it.
 */
function limitOf(s: StepResult, r: SandboxResult): StepLimit | null {
  if (s.limit !== null) return s.limit;
  if (s.exitCode === null && s.signal === null) {
    if (r.timedOut) return 'wall';
    if (r.oomKilled) return 'oom';
    if (r.outputLimitHit) return 'output';
    if (r.pidsLimitHit) return 'pids';
  }
  return null;
}

/**
 * The status a limit that ended a step gives it: a compile's and a run's alike, but for the
 * pids limit, which ends the whole sandbox: `killed` for a run, `error` for a compile
 * (CompileStatus has no `killed`: a compiler ended by a signal is an `error` too).
 */
function statusOfLimit(limit: StepLimit): 'timeout' | 'oom' | 'output_limit' | 'killed' {
  switch (limit) {
    case 'wall':
    case 'cpu':
      return 'timeout';
    case 'memory':
    case 'oom':
      return 'oom';
    case 'output':
      return 'output_limit';
    case 'pids':
      return 'killed';
  }
}

function compileStatusOf(s: StepResult, r: SandboxResult): CompileStatus {
  const limit = limitOf(s, r);
  if (limit) {
    const status = statusOfLimit(limit);
    return status === 'killed' ? 'error' : status;
  }
  return s.exitCode === 0 && s.signal === null ? 'ok' : 'error';
}

/** The execution's status from the step that ran last, as statusOf says it of a single program. */
function runStatusOf(s: StepResult | undefined, r: SandboxResult): ExecutionStatus {
  if (r.timedOut) return 'timeout';
  if (!s) return 'sandbox_error';
  const limit = limitOf(s, r);
  if (limit) return statusOfLimit(limit);
  if (s.exitCode === 0) return 'ok';
  if (s.signal) return 'killed';
  if (s.exitCode === null) return 'sandbox_error';
  return 'error';
}

export function judgeSteps(plan: StepPlan, r: SandboxResult, outputBytes: number): Judged {
  const steps = r.steps ?? [];
  const out: Judged = { status: 'sandbox_error' };
  let runs = steps;
  if (plan.compile) {
    const c = steps[0];
    runs = steps.slice(1);
    if (c) {
      const stdout = answerText(c.stdout, plan.compile.outputBytes, 2 * plan.compile.outputBytes);
      const stderr = answerText(c.stderr, plan.compile.outputBytes, 2 * plan.compile.outputBytes);
      out.compile = {
        status: compileStatusOf(c, r),
        exitCode: c.exitCode,
        signal: c.signal,
        stdout: stdout.text,
        stderr: stderr.text,
        truncated: c.stdout.droppedBytes > 0 || c.stderr.droppedBytes > 0 || stdout.cut || stderr.cut,
        usage: c.exitCode === null && c.signal === null ? null : c.usage,
        durationMs: c.wallMs,
      };
    }
    if (!c || out.compile!.status !== 'ok') {
      // The compile failed (or never ended): nothing ran.
      out.status = c ? 'compile_error' : runStatusOf(undefined, r);
      if (plan.tests) {
        out.tests = [];
        out.verdict = 'compile_error';
        out.summary = summaryOf([], plan.tests.length);
      }
      return out;
    }
  }
  out.status = runStatusOf(runs.at(-1), r);
  if (!plan.tests) return out;

  const perTest = answerBytesPerTest(outputBytes, plan.tests.length);
  const verdicts: Verdict[] = [];
  out.tests = runs.slice(0, plan.tests.length).map((s, i) => {
    const t = plan.tests![i]!;
    const ended = s.exitCode !== null || s.signal !== null;
    const usage = ended ? s.usage : null;
    const verdict = verdictOf(
      {
        exitCode: s.exitCode,
        signal: s.signal,
        limit: limitOf(s, r),
        usage,
        // Judged on all it wrote (up to the cap), not on the answer's shorter copy.
        stdout: s.stdout.droppedBytes > 0 ? '' : s.stdout.data.toString('utf8'),
        stdoutDropped: s.stdout.droppedBytes > 0,
      },
      { cpuMs: t.cpuTimeMs, memoryKb: t.memoryMb * 1024 },
      t.expectedOutput,
      plan.compare,
    );
    verdicts.push(verdict);
    const stdout = answerText(s.stdout, outputBytes, perTest);
    const stderr = answerText(s.stderr, outputBytes, perTest);
    return {
      verdict,
      exitCode: s.exitCode,
      signal: s.signal,
      stdout: stdout.text,
      stderr: stderr.text,
      truncated: s.stdout.droppedBytes > 0 || s.stderr.droppedBytes > 0 || stdout.cut || stderr.cut,
      cpuTimeMs: usage ? usage.cpuUserMs + usage.cpuSysMs : null,
      wallMs: s.wallMs,
      maxRssKb: usage ? usage.maxRssKb : null,
      limits: { timeoutMs: t.timeoutMs, cpuTimeMs: t.cpuTimeMs, memoryMb: t.memoryMb },
    };
  });
  // Tests that never ran (the sandbox stopped first) count as not passed.
  const missing = plan.tests.length - verdicts.length;
  out.verdict = missing > 0 && verdicts.every((v) => v === 'accepted') ? 'runtime_error' : overallVerdict(verdicts);
  out.summary = summaryOf(verdicts, plan.tests.length);
  return out;
}
