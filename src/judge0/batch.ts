/**
 * A Judge0 batch as executions. Submissions that would build the same ExecuteRequest apart
 * from their tests (same language, source, compiler_options, command_line_arguments,
 * max_processes_and_or_threads: all but stdin, expected_output, number_of_runs and the
 * per-run limits) run as one execution whose tests are their runs, in request order: one
 * sandbox, one compile, a fresh process per run with its own stdin and limits. Each is
 * answered from its own runs and the shared compile. A group too large for one execution
 * (the rules of execution/plan.ts: KATA_EXEC_MAX_TESTS, the compile's and the runs'
 * wall-clock limits within KATA_EXEC_TIMEOUT_MS_MAX, the memory budget) is cut into
 * several, in order; a submission is never cut. Pure.
 */
import type { Config } from '../config.js';
import { findLanguage } from '../execution/languages.js';
import { testsFit } from '../execution/plan.js';
import type { JudgeRequest, JudgeResult, Plan } from './mapping.js';

export interface BatchMember {
  /** Its place in the batch: `submissions[index]`. */
  index: number;
  plan: Plan;
  /** Its first run among the execution's tests; its runs are the next plan.request.tests.length. */
  first: number;
}

export interface BatchExecution {
  request: JudgeRequest;
  /** In request order. */
  members: BatchMember[];
}

export type BatchBounds = Pick<Config, 'limits' | 'judge' | 'memoryBudgetBytes'>;

/** JSON with sorted keys: two requests built alike read the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** What submissions must share to run together: their request without its tests. */
export function programKey(req: JudgeRequest): string {
  const { tests: _tests, ...program } = req;
  return canonical(program);
}

/**
 * The executions a batch makes: its submissions grouped by program (groups in the order of
 * their first submission), each group cut, greedily and in order, into executions that
 * testsFit. A submission that does not fit even alone gets an execution of its own, which
 * the service refuses as it would that submission sent by itself.
 */
export function groupBatch(plans: readonly Plan[], bounds: BatchBounds): BatchExecution[] {
  const groups = new Map<string, { index: number; plan: Plan }[]>();
  plans.forEach((plan, index) => {
    const key = programKey(plan.request);
    const group = groups.get(key);
    if (group) group.push({ index, plan });
    else groups.set(key, [{ index, plan }]);
  });

  const executions: BatchExecution[] = [];
  for (const group of groups.values()) {
    const compiled = findLanguage(group[0]!.plan.request.language)?.compile !== undefined;
    let current: BatchExecution | null = null;
    for (const { index, plan } of group) {
      const runs = plan.request.tests ?? [];
      if (current) {
        const first = current.request.tests!.length;
        const request: JudgeRequest = { ...current.request, tests: [...current.request.tests!, ...runs] };
        if (testsFit(request, compiled, bounds)) {
          current.request = request;
          current.members.push({ index, plan, first });
          continue;
        }
      }
      current = { request: { ...plan.request, tests: [...runs] }, members: [{ index, plan, first: 0 }] };
      executions.push(current);
    }
  }
  return executions;
}

/**
 * A submission's own result of the execution it ran in: its runs among the tests, with the
 * shared compile and status (a compile error, a sandbox failure: every member's), under a
 * token of its own: the execution id, and `-<n>` for the n-th (from 0) of several members.
 */
export function memberResult(r: JudgeResult, ex: BatchExecution, m: BatchMember): JudgeResult {
  const runs = m.plan.request.tests?.length ?? 1;
  const position = ex.members.indexOf(m);
  return {
    ...r,
    id: ex.members.length === 1 ? r.id : `${r.id}-${position}`,
    ...(r.tests ? { tests: r.tests.slice(m.first, m.first + runs) } : {}),
  };
}

/**
 * Where an execution's error goes in the batch: a field of run k (`/tests/k/...`) under the
 * submission that run belongs to, any other (the shared program) under its first submission.
 */
export function submissionPrefix(ex: BatchExecution): (path: string) => string {
  return (path) => {
    const k = /^\/tests\/(\d+)(?:\/|$)/.exec(path);
    const test = k ? Number(k[1]) : -1;
    const owner = [...ex.members].reverse().find((m) => m.first <= test) ?? ex.members[0]!;
    return `/submissions/${owner.index}`;
  };
}
