/**
 * The Judge0-compatible endpoint under /judge0: Judge0 CE's submissions (wait=true only),
 * batches, languages and statuses, over the same ExecutionService as /v1/execute (queue,
 * quotas, metrics, audit) and behind the same authentication and rate limit. Errors are the
 * usual problem details with Judge0's `error` field beside `detail`.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Catalog } from '../../host/catalog.js';
import { ErrorCode, KataExecError, NotSupportedError } from '../../errors.js';
import type { RuntimesInfo } from '../../schemas/runtimes.js';
import type { ExecutionService } from '../../queue/execution-service.js';
import {
  Judge0Batch,
  Judge0BatchQuery,
  Judge0ErrorBody,
  Judge0Language,
  Judge0LanguageDetail,
  Judge0StatusObject,
  Judge0Submission,
  Judge0SubmissionQuery,
  Judge0SubmissionResult,
} from '../../schemas/judge0.js';
import { inSubmissionTerms, parseFields, pickFields, toExecuteRequest, toSubmissionResult, type JudgeRequest, type Plan } from '../../judge0/mapping.js';
import { groupBatch, memberResult, submissionPrefix, type BatchBounds } from '../../judge0/batch.js';
import { judge0Name, languageOfJudge0Id, primaryJudge0Id } from '../../judge0/languages.js';
import { JUDGE0_STATUSES } from '../../judge0/statuses.js';
import { problemFor } from '../error-handler.js';
import { problemResponses } from '../responses.js';

export interface Judge0RouteOptions {
  service: ExecutionService;
  catalog: Catalog;
  /** The per-key execution rate: one call per execution (a batch may make several). */
  admitExecution: (request: FastifyRequest) => Promise<void>;
  /** What a batch's executions must stay within (KATA_EXEC_MAX_TESTS, the maximum timeout, the memory budget). */
  config: BatchBounds;
}

const runErrors = problemResponses(
  {
    400: 'VALIDATION_FAILED (a field, Base64 that is not, `fields` naming an unknown attribute), UNKNOWN_LANGUAGE (a language_id this service does not run) or LIMIT_EXCEEDED; `errors` names the Judge0 fields.',
    401: 'UNAUTHORIZED: send `Authorization: Bearer <key>` or `X-Auth-Token: <key>`.',
    413: 'PAYLOAD_TOO_LARGE.',
    415: 'UNSUPPORTED_MEDIA_TYPE: send application/json.',
    422: 'NOT_SUPPORTED: wait is not true, or a field asks for what this service does not do (callback_url, additional_files, stack_limit, max_file_size, enable_network, redirect_stderr_to_stdout, per-process limits); or LANGUAGE_NOT_AVAILABLE, SECURITY_VIOLATION.',
    429: 'RATE_LIMITED or QUOTA_EXCEEDED; honour Retry-After.',
    500: 'INTERNAL or RUNNER_NOT_CONFIGURED.',
    502: 'VM_CREATION_FAILED or VM_EXECUTION_FAILED.',
    503: 'QUEUE_FULL, MEMORY_BUDGET_FULL, SHUTTING_DOWN and the other unavailability codes of /v1/execute; honour Retry-After.',
  },
  Judge0ErrorBody,
);
const readErrors = problemResponses(
  { 401: 'UNAUTHORIZED: send `Authorization: Bearer <key>` or `X-Auth-Token: <key>`.', 429: 'RATE_LIMITED; honour Retry-After.', 500: 'INTERNAL.' },
  Judge0ErrorBody,
);

const ASYNC_REFUSED = 'asynchronous submissions are not supported: this service keeps no submissions; send wait=true and read the answer';

function requireWait(wait: string | undefined): void {
  if (wait !== 'true') throw new NotSupportedError(ASYNC_REFUSED, [{ path: '/wait', message: 'must be true' }]);
}

/** The client going away kills its sandbox; the execution's context as /v1/execute builds it. */
function executionContext(request: FastifyRequest, reply: FastifyReply, holdUntilAnswered: boolean) {
  const ac = new AbortController();
  const answered = new Promise<void>((resolve) => {
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) ac.abort();
      resolve();
    });
  });
  return { requestId: request.id, key: request.apiKey ?? request.ip, signal: ac.signal, ...(holdUntilAnswered ? { answered } : {}) };
}

/** The languages of the catalog (versions and availability read from the image), by name. */
async function catalogLanguages(catalog: Catalog): Promise<Map<string, RuntimesInfo['languages'][number]>> {
  const info = await catalog.describe();
  return new Map(info.languages.map((l) => [l.name, l]));
}

export const judge0Routes: FastifyPluginAsyncTypebox<Judge0RouteOptions> = async (app, opts) => {
  // The shared problem details, with Judge0's `error` beside `detail` (this plugin's routes only).
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const p = problemFor(err, request);
    if (p.retryAfterSeconds !== undefined) reply.header('retry-after', String(p.retryAfterSeconds));
    return reply.code(p.body.status).type('application/problem+json').send({ ...p.body, error: p.body.detail });
  });

  /** Runs a request built from submissions; its errors are told in their terms. */
  const execute = async (request: JudgeRequest, ctx: ReturnType<typeof executionContext>, prefix: string | ((path: string) => string)) => {
    try {
      return await opts.service.execute(request, ctx);
    } catch (err) {
      throw inSubmissionTerms(err, prefix);
    }
  };
  /** The language's name with its version; the catalog reads the image, so only when `language` {id, name} is asked for. */
  const languageName = async (plan: Plan, fields: readonly string[]) => {
    const version = fields.includes('language') ? ((await catalogLanguages(opts.catalog)).get(plan.language)?.version ?? null) : null;
    return judge0Name(plan.language, version);
  };

  app.post(
    '/judge0/submissions',
    {
      onRequest: async (request) => opts.admitExecution(request),
      schema: {
        operationId: 'judge0CreateSubmission',
        summary: 'Judge0: run a submission and answer with its result (wait=true)',
        description:
          "Judge0 CE's `POST /submissions`, synchronous only: with `wait=true` the program is compiled if need be, run against `stdin`, compared with `expected_output` (each line without trailing whitespace, trailing blank lines ignored) and answered with Judge0's field names, units and status ids. Without `wait=true`: 422 NOT_SUPPORTED (no submission is kept, so there is no token to fetch later). The README's Judge0 section lists what maps and what does not.",
        tags: ['judge0'],
        querystring: Judge0SubmissionQuery,
        body: Judge0Submission,
        response: { 201: Judge0SubmissionResult, ...runErrors },
      },
    },
    async (request, reply) => {
      requireWait(request.query.wait);
      const fields = parseFields(request.query.fields);
      const base64 = request.query.base64_encoded === 'true';
      const plan = toExecuteRequest(request.body, base64);
      const createdAt = new Date();
      const result = await execute(plan.request, executionContext(request, reply, true), '');
      const answer = toSubmissionResult(result, { plan, languageName: await languageName(plan, fields), base64, createdAt, finishedAt: new Date() });
      return reply.code(201).send(pickFields(answer, fields));
    },
  );

  app.post(
    '/judge0/submissions/batch',
    {
      onRequest: async (request) => opts.admitExecution(request),
      schema: {
        operationId: 'judge0CreateSubmissionBatch',
        summary: 'Judge0: run a batch of submissions and answer with their results in order (wait=true)',
        description:
          "Judge0 CE's `POST /submissions/batch`, synchronous: every submission is checked first (one bad submission refuses the batch, its fields named under `/submissions/<i>`). Submissions of the same program (same language, source_code, compiler_options, command_line_arguments and max_processes_and_or_threads; stdin, expected_output, number_of_runs, cpu_time_limit, wall_time_limit and memory_limit may differ) run together as one execution whose tests are their runs, in order: one sandbox, one compile, a fresh process per run with its own stdin and limits. That is several inputs judged against one compile (asked of Judge0 in its issues #19, #223 and #396): send one submission per input. A group past KATA_EXEC_MAX_TESTS runs, or whose compile and runs' wall-clock limits would not fit in the maximum timeout, is cut into several executions, in order (a submission is never cut). Executions run one after another; each counts once against the rate limit, all taken before anything runs. Each submission is answered from its own runs and the shared compile (a compile error: Compilation Error for each; the sandbox failing: Internal Error for each), with a token of its own (`<execution id>-<n>` when an execution ran several). The answer is an array in the order of the request.",
        tags: ['judge0'],
        querystring: Judge0BatchQuery,
        body: Judge0Batch,
        response: { 201: Type.Array(Judge0SubmissionResult), ...runErrors },
      },
    },
    async (request, reply) => {
      requireWait(request.query.wait);
      const fields = parseFields(request.query.fields);
      const base64 = request.query.base64_encoded === 'true';
      const plans = request.body.submissions.map((s, i) => toExecuteRequest(s, base64, `/submissions/${i}`));
      // Submissions of the same program run together: one execution, one compile (judge0/batch.ts).
      const executions = groupBatch(plans, opts.config);
      // The request itself was admitted once; each further execution is admitted too, all
      // before any runs (a batch is refused whole, never cut short by the rate limit).
      for (let i = 1; i < executions.length; i++) await opts.admitExecution(request);
      // One at a time: each releases its place in the key's quota when it ends, so a batch
      // never needs more than one; their answers wait here until the whole batch is sent.
      const ctx = executionContext(request, reply, false);
      const answers: Judge0SubmissionResult[] = new Array(plans.length);
      for (const ex of executions) {
        const createdAt = new Date();
        const result = await execute(ex.request, ctx, submissionPrefix(ex));
        const finishedAt = new Date();
        for (const m of ex.members) {
          const answer = toSubmissionResult(memberResult(result, ex, m), { plan: m.plan, languageName: await languageName(m.plan, fields), base64, createdAt, finishedAt });
          answers[m.index] = pickFields(answer, fields);
        }
      }
      return reply.code(201).send(answers);
    },
  );

  const refuseStored = {
    schema: {
      tags: ['judge0'],
      summary: 'Judge0: not supported (no submission is kept); 422 NOT_SUPPORTED',
      params: Type.Object({ token: Type.String() }),
      response: { ...problemResponses({ 422: 'NOT_SUPPORTED: submissions are answered by POST with wait=true and never kept.' }, Judge0ErrorBody), ...readErrors },
    },
  };
  const stored = async () => {
    throw new NotSupportedError(ASYNC_REFUSED);
  };
  app.get('/judge0/submissions/:token', { ...refuseStored, schema: { ...refuseStored.schema, operationId: 'judge0GetSubmission' } }, stored);
  app.delete('/judge0/submissions/:token', { ...refuseStored, schema: { ...refuseStored.schema, operationId: 'judge0DeleteSubmission' } }, stored);
  app.get(
    '/judge0/submissions',
    { schema: { operationId: 'judge0ListSubmissions', tags: ['judge0'], summary: refuseStored.schema.summary, response: refuseStored.schema.response } },
    stored,
  );

  app.get(
    '/judge0/languages',
    {
      schema: {
        operationId: 'judge0Languages',
        summary: 'Judge0: the languages this service runs, by Judge0 language id',
        description:
          "One id per language the sandbox image holds, named with the version it runs (e.g. `Python (3.11.2)`): the id of the newest Judge0 version not newer than ours. Judge0's other ids for the same language are accepted too (`GET /judge0/languages/{id}` answers for each); the README lists them.",
        tags: ['judge0'],
        response: { 200: Type.Array(Judge0Language), ...readErrors },
      },
    },
    async () => {
      const out = [];
      for (const [language, v] of await catalogLanguages(opts.catalog)) {
        const id = primaryJudge0Id(language, v.version);
        if (id !== undefined && v.available) out.push({ id, name: judge0Name(language, v.version) });
      }
      return out.sort((a, b) => a.name.localeCompare(b.name));
    },
  );

  app.get(
    '/judge0/languages/:id',
    {
      schema: {
        operationId: 'judge0Language',
        summary: 'Judge0: one language by Judge0 id',
        description: 'Any id this service accepts, with how it runs here. `is_archived` is true when the running sandbox image does not hold the language.',
        tags: ['judge0'],
        params: Type.Object({ id: Type.String({ pattern: '^[0-9]{1,9}$' }) }),
        response: { 200: Judge0LanguageDetail, ...problemResponses({ 404: 'NOT_FOUND: no language of this id here.' }, Judge0ErrorBody), ...readErrors },
      },
    },
    async (request) => {
      const id = Number(request.params.id);
      const lid = languageOfJudge0Id(id);
      const lang = lid ? (await catalogLanguages(opts.catalog)).get(lid.language) : undefined;
      if (!lid || !lang) throw new KataExecError(ErrorCode.NotFound, `no language with id ${id}; GET /judge0/languages lists them`);
      return {
        id,
        name: judge0Name(lang.name, lang.version),
        is_archived: !lang.available,
        source_file: lang.entryFile,
        compile_cmd: lang.compile ? lang.compile.command.join(' ') : null,
        run_cmd: lang.run.join(' '),
      };
    },
  );

  app.get(
    '/judge0/statuses',
    {
      schema: {
        operationId: 'judge0Statuses',
        summary: "Judge0: the submission statuses (ids and descriptions)",
        tags: ['judge0'],
        response: { 200: Type.Array(Judge0StatusObject), ...readErrors },
      },
    },
    async () => JUDGE0_STATUSES.map((s) => ({ id: s.id, description: s.description })),
  );
};
