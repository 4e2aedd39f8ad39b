/**
 * The Judge0-compatible endpoint's wire types (/judge0): Judge0 CE's field names and units
 * (seconds, kilobytes), as its documentation describes them. src/judge0/ maps them to and
 * from ExecuteRequest and ExecuteResult.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { ErrorBody } from './common.js';

const Nullable = <T extends TSchema>(t: T, description?: string) =>
  Type.Optional(Type.Union([t, Type.Null()], description ? { description } : {}));

/** Judge0 (Rails) takes numbers as JSON numbers or as numeric strings ("language_id": "4"). */
const NumberLike = (description: string) =>
  Nullable(Type.Union([Type.Number({ minimum: 0 }), Type.String({ pattern: '^[0-9]{1,9}(\\.[0-9]{1,6})?$' })]), description);

export const Judge0Submission = Type.Object(
  {
    source_code: Type.String({ description: "The program's source code (Base64 with base64_encoded=true)." }),
    language_id: Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^[0-9]{1,9}$' })], {
      description: 'A Judge0 language id (GET /judge0/languages).',
    }),
    compiler_options: Nullable(Type.String({ maxLength: 512 }), 'Compiler flags, split like shell words (compiled languages only).'),
    command_line_arguments: Nullable(Type.String({ maxLength: 512 }), 'Arguments for the program, split like shell words.'),
    stdin: Nullable(Type.String(), 'Standard input (Base64 with base64_encoded=true).'),
    expected_output: Nullable(Type.String(), "Compared with stdout, ignoring trailing whitespace on each line and trailing blank lines, as Judge0 does (Base64 with base64_encoded=true)."),
    cpu_time_limit: NumberLike('CPU-time limit of the run, seconds.'),
    cpu_extra_time: NumberLike('Accepted (0 to 5); the run is stopped at cpu_time_limit.'),
    wall_time_limit: NumberLike('Wall-clock limit of the run, seconds.'),
    memory_limit: NumberLike('Memory limit of the run (peak resident memory), kilobytes; rounded up to whole MiB.'),
    stack_limit: NumberLike('Not supported: NOT_SUPPORTED when set.'),
    max_processes_and_or_threads: NumberLike("Processes and threads the program may have (the sandbox's pids limit)."),
    enable_per_process_and_thread_time_limit: Nullable(Type.Boolean(), 'Only false is supported.'),
    enable_per_process_and_thread_memory_limit: Nullable(Type.Boolean(), 'Only false is supported.'),
    max_file_size: NumberLike('Not supported: NOT_SUPPORTED when set.'),
    redirect_stderr_to_stdout: Nullable(Type.Boolean(), 'Only false is supported.'),
    enable_network: Nullable(Type.Boolean(), 'Only false is supported: the sandbox has no network.'),
    number_of_runs: NumberLike('Runs of the program (1 to 20): time and memory are the averages; the runs stop at the first that is not accepted.'),
    additional_files: Nullable(Type.String(), 'Not supported: NOT_SUPPORTED when set.'),
    callback_url: Nullable(Type.String(), 'Not supported: NOT_SUPPORTED when set.'),
  },
  { additionalProperties: false },
);
export type Judge0Submission = Static<typeof Judge0Submission>;

export const Judge0SubmissionQuery = Type.Object(
  {
    wait: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')], { description: 'Must be true: the answer is the finished submission.' })),
    base64_encoded: Type.Optional(
      Type.Union([Type.Literal('true'), Type.Literal('false')], {
        description: 'true: source_code, stdin and expected_output are sent in Base64, and stdout, stderr, compile_output and message come back in Base64. Default false.',
      }),
    ),
    fields: Type.Optional(
      Type.String({ maxLength: 1024, description: 'Comma-separated attributes to answer with, or `*` for all. Default: token, time, memory, stdout, stderr, compile_output, message, status.' }),
    ),
  },
  { additionalProperties: false },
);
export type Judge0SubmissionQuery = Static<typeof Judge0SubmissionQuery>;

export const Judge0BatchQuery = Type.Object(
  {
    wait: Judge0SubmissionQuery.properties.wait,
    base64_encoded: Judge0SubmissionQuery.properties.base64_encoded,
    fields: Judge0SubmissionQuery.properties.fields,
  },
  { additionalProperties: false },
);

export const Judge0Batch = Type.Object(
  { submissions: Type.Array(Judge0Submission, { minItems: 1, maxItems: 20, description: 'Answered in order. Submissions of the same program (all but stdin, expected_output, number_of_runs and the per-run limits alike) run together as one execution: one sandbox, one compile, a run each.' }) },
  { additionalProperties: false },
);
export type Judge0Batch = Static<typeof Judge0Batch>;

export const Judge0StatusObject = Type.Object({ id: Type.Integer(), description: Type.String() });

const Str = Type.Union([Type.String(), Type.Null()]);
const Int = Type.Union([Type.Integer(), Type.Null()]);
const Num = Type.Union([Type.Number(), Type.Null()]);
const Bool = Type.Union([Type.Boolean(), Type.Null()]);

/** A finished submission. Which attributes are present follows `fields`. */
export const Judge0SubmissionResult = Type.Object({
  token: Type.Optional(Type.String({ description: 'The execution id (kx-...); in a batch, `kx-...-<n>` for the n-th (from 0) of several submissions run by one execution. No submission is kept: it cannot be fetched later.' })),
  stdout: Type.Optional(Str),
  stderr: Type.Optional(Str),
  compile_output: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: "The compiler's output (stdout then stderr)." })),
  message: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Why the run ended, when it did not end by itself with exit 0.' })),
  exit_code: Type.Optional(Int),
  exit_signal: Type.Optional(Int),
  status: Type.Optional(Judge0StatusObject),
  time: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'CPU time of the run (user + system), seconds.' })),
  wall_time: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Wall-clock time of the run, seconds.' })),
  memory: Type.Optional(Type.Union([Type.Integer(), Type.Null()], { description: 'Peak resident memory of the run, kilobytes.' })),
  created_at: Type.Optional(Str),
  finished_at: Type.Optional(Str),
  language_id: Type.Optional(Type.Integer()),
  language: Type.Optional(Type.Object({ id: Type.Integer(), name: Type.String() })),
  source_code: Type.Optional(Str),
  stdin: Type.Optional(Str),
  expected_output: Type.Optional(Str),
  compiler_options: Type.Optional(Str),
  command_line_arguments: Type.Optional(Str),
  cpu_time_limit: Type.Optional(Num),
  cpu_extra_time: Type.Optional(Num),
  wall_time_limit: Type.Optional(Num),
  memory_limit: Type.Optional(Num),
  stack_limit: Type.Optional(Num),
  max_processes_and_or_threads: Type.Optional(Num),
  enable_per_process_and_thread_time_limit: Type.Optional(Bool),
  enable_per_process_and_thread_memory_limit: Type.Optional(Bool),
  max_file_size: Type.Optional(Num),
  redirect_stderr_to_stdout: Type.Optional(Bool),
  enable_network: Type.Optional(Bool),
  number_of_runs: Type.Optional(Num),
  additional_files: Type.Optional(Str),
  callback_url: Type.Optional(Str),
});
export type Judge0SubmissionResult = Static<typeof Judge0SubmissionResult>;

export const Judge0Language = Type.Object({ id: Type.Integer(), name: Type.String() });
export const Judge0LanguageDetail = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  is_archived: Type.Boolean(),
  source_file: Type.String(),
  compile_cmd: Type.Union([Type.String(), Type.Null()]),
  run_cmd: Type.String(),
});
export type Judge0LanguageDetail = Static<typeof Judge0LanguageDetail>;

/** Our problem details, plus Judge0's `error` (the same text as `detail`). */
export const Judge0ErrorBody = Type.Object(
  { ...ErrorBody.properties, error: Type.String({ description: "Judge0's error field: the same text as `detail`." }) },
  { description: 'An RFC 9457 problem details body with a stable `code`, and the `error` field Judge0 clients read.' },
);
