import { Type, type Static } from 'typebox';
import { Hypervisor, Isolation, Profile, RuntimeKind } from './common.js';
import { MIN_MEMORY_MB } from '../units.js';

export const Limits = Type.Object(
  {
    memoryMb: Type.Optional(Type.Integer({ minimum: MIN_MEMORY_MB, description: 'Memory limit in MiB (cgroup; the VM size on Kata).' })),
    cpus: Type.Optional(
      Type.Number({
        minimum: 0.01,
        description: 'CPU quota in cores, e.g. 0.5. At least 0.01: the smallest CFS quota the kernel takes (1 ms per 100 ms period).',
      }),
    ),
    pids: Type.Optional(Type.Integer({ minimum: 1, description: 'Maximum number of processes and threads.' })),
    diskMb: Type.Optional(Type.Integer({ minimum: 1, description: 'Size of the writable /tmp (tmpfs), in MiB.' })),
    outputBytes: Type.Optional(Type.Integer({ minimum: 1, description: 'Cap on each of stdout and stderr, in bytes.' })),
    openFiles: Type.Optional(Type.Integer({ minimum: 8, description: 'RLIMIT_NOFILE inside the sandbox.' })),
    cpuTimeMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          "CPU-time limit (user + system, from the run's rusage) of each run of the program, in milliseconds, apart from the wall clock: a run past it is killed (`time_limit` with tests). Each test may set its own. Default: none. Never applies to the compile.",
      }),
    ),
  },
  { additionalProperties: false, description: 'Per-request limits. Omitted ones take the server default; each is capped by a server maximum.' },
);
export type Limits = Static<typeof Limits>;

export const SourceFile = Type.Object(
  {
    path: Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^[A-Za-z0-9_.-][A-Za-z0-9_./-]*$',
      description: 'Relative path under /code: letters, digits, ".", "_", "-" and "/"; no absolute path, no "..", at most 8 levels.',
      examples: ['main.py', 'lib/util.py'],
    }),
    content: Type.String({ description: 'The file content, in `encoding`.' }),
    encoding: Type.Optional(Type.Union([Type.Literal('utf8'), Type.Literal('base64')], { description: 'utf8 (default) or base64.' })),
  },
  { additionalProperties: false },
);
export type SourceFile = Static<typeof SourceFile>;

/** The most tests any server takes (the schema's bound); KATA_EXEC_MAX_TESTS may lower it. */
export const TESTS_HARD_MAX = 256;

export const CompileOptions = Type.Object(
  {
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Wall-clock limit of the compile, ms. Default KATA_EXEC_COMPILE_TIMEOUT_MS_DEFAULT; at most KATA_EXEC_TIMEOUT_MS_MAX.' }),
    ),
    memoryMb: Type.Optional(
      Type.Integer({
        minimum: MIN_MEMORY_MB,
        description:
          "Memory limit of the compiler (peak RSS), MiB. Default KATA_EXEC_COMPILE_MEMORY_MB_DEFAULT; at most KATA_EXEC_MEMORY_MB_MAX. The sandbox's memory is the largest of this, limits.memoryMb and the tests' memoryMb.",
      }),
    ),
    outputBytes: Type.Optional(
      Type.Integer({ minimum: 1, description: "Cap on each of the compiler's stdout and stderr, bytes. Default KATA_EXEC_COMPILE_OUTPUT_BYTES_DEFAULT; at most KATA_EXEC_OUTPUT_BYTES_MAX." }),
    ),
    args: Type.Optional(
      Type.Array(Type.String({ maxLength: 4096 }), {
        maxItems: 64,
        description: "Extra compiler arguments, after the language's own and before the source file's place, e.g. [\"-O2\", \"-lm\"]. GET /v1/runtimes shows each compile command.",
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'The compile phase of a compiled language (c, cpp, go, rust, java, typescript): its limits and extra arguments. Refused for an interpreted language (400 VALIDATION_FAILED at /compile).',
  },
);
export type CompileOptions = Static<typeof CompileOptions>;

export const TestCase = Type.Object(
  {
    stdin: Type.Optional(Type.String({ description: 'Fed to this run on standard input (then end of file). Default: empty.' })),
    expectedOutput: Type.Optional(
      Type.String({
        description: 'What this run must print on stdout, compared by `compare`. Absent: the run is accepted when it ends by itself with exit 0 within its limits.',
      }),
    ),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, description: 'Wall-clock limit of this run, ms. Default KATA_EXEC_TEST_TIMEOUT_MS_DEFAULT.' })),
    cpuTimeMs: Type.Optional(Type.Integer({ minimum: 1, description: 'CPU-time limit of this run, ms. Default limits.cpuTimeMs (none when absent).' })),
    memoryMb: Type.Optional(Type.Integer({ minimum: 1, description: 'Memory limit of this run (peak RSS), MiB. Default limits.memoryMb.' })),
  },
  { additionalProperties: false },
);
export type TestCase = Static<typeof TestCase>;

export const CompareMode = Type.Union([Type.Literal('exact'), Type.Literal('trailing_whitespace'), Type.Literal('tokens'), Type.Literal('numbers')], {
  description:
    '`exact`: byte for byte (as UTF-8 text). `trailing_whitespace` (default): each line without its trailing spaces, tabs and carriage return, and the trailing empty lines ignored. `tokens`: the same whitespace-separated words. `numbers`: the same tokens, where two numbers are equal within `tolerance` (absolute or relative) and other tokens must match exactly.',
});
export type CompareMode = Static<typeof CompareMode>;

export const Compare = Type.Object(
  {
    mode: CompareMode,
    tolerance: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1,
        description: '`numbers` only: a number is accepted when |got - expected| <= tolerance or <= tolerance x |expected|. Default 1e-6.',
      }),
    ),
  },
  { additionalProperties: false, description: 'How a test\'s stdout is compared with its expectedOutput.' },
);
export type Compare = Static<typeof Compare>;

const ENV_NAME = '^[A-Za-z_][A-Za-z0-9_]{0,127}$';
const METADATA_KEY = '^[A-Za-z0-9_.-]{1,63}$';

export const ExecuteRequest = Type.Object(
  {
    language: Type.String({
      minLength: 1,
      maxLength: 32,
      description: 'Language of the program: python, javascript or bash (aliases: py, python3, js, node, sh). GET /v1/runtimes lists them with their versions.',
      examples: ['python'],
    }),
    code: Type.Optional(
      Type.String({
        description: 'The program, written to /code/main.<ext> (read-only). Required unless `files` is given; with `files` it is one more file, the entry point unless `entrypoint` says otherwise.',
        examples: ['print(6*7)'],
      }),
    ),
    files: Type.Optional(
      Type.Array(SourceFile, { minItems: 1, maxItems: 64, description: 'Several files, written under /code (read-only).' }),
    ),
    entrypoint: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'With `files`: the path of the file to run. Default: `code` when given, else the first file.' }),
    ),
    stdin: Type.Optional(Type.String({ description: 'Fed to the program on standard input (then end of file).' })),
    args: Type.Optional(
      Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 64, description: 'Command-line arguments passed to the program.' }),
    ),
    env: Type.Optional(
      Type.Record(Type.String({ pattern: ENV_NAME }), Type.String({ maxLength: 4096 }), {
        // A Record's key pattern alone lets other names through: these two enforce it.
        additionalProperties: false,
        propertyNames: { type: 'string', pattern: ENV_NAME },
        maxProperties: 64,
        description: 'Environment variables for the program. PATH, HOME, TMPDIR and LANG are the sandbox\'s own; the service\'s variables never reach it.',
      }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          "Wall-clock timeout in milliseconds, counted from the request, sandbox start included: a sandbox start made again after it failed gets what is left of it. Without it the deadline is the service's (KATA_EXEC_TIMEOUT_MS_DEFAULT, or with a compile or tests their limits plus room for the start), and a start made again gets it whole.",
      }),
    ),
    limits: Type.Optional(Limits),
    profile: Type.Optional(Profile),
    outputFiles: Type.Optional(
      Type.Array(
        Type.String({
          minLength: 1,
          maxLength: 255,
          pattern: '^[A-Za-z0-9_.*?/-]+$',
          description: 'A glob under /code: `*` and `?` within a name, `**` across directories, e.g. `out/*.png` or `**/*.csv`.',
        }),
        {
          maxItems: 16,
          description:
            'Files the program leaves under /code that come back in the result (`outputFiles`, base64): regular files only, never through a link, at most KATA_EXEC_OUTPUT_FILES_MAX_COUNT files and KATA_EXEC_OUTPUT_FILES_MAX_BYTES bytes in all (`outputFilesTruncated` says when some were left out). For charts and generated data. With a compiled language or tests: the files as the last run left them (the tests share /code, one after the other; after a failed compile, as the compile left them).',
        },
      ),
    ),
    compile: Type.Optional(CompileOptions),
    tests: Type.Optional(
      Type.Array(TestCase, {
        minItems: 1,
        maxItems: TESTS_HARD_MAX,
        description:
          'Test cases: the program (compiled once) runs once per test, each run a fresh process in the same sandbox with its own stdin and its own wall-clock, CPU-time and memory limits, and each gets a verdict. At most KATA_EXEC_MAX_TESTS (default 64; 400 LIMIT_EXCEEDED past it). Not with `stdin` (each test has its own). With `outputFiles`, the files come back as the last test left them.',
      }),
    ),
    compare: Type.Optional(Compare),
    metadata: Type.Optional(
      Type.Record(Type.String({ pattern: METADATA_KEY }), Type.String({ maxLength: 256 }), {
        additionalProperties: false,
        propertyNames: { type: 'string', pattern: METADATA_KEY },
        maxProperties: 16,
        description:
          'Free key/value pairs echoed back in the result and written to the audit log (`audit.metadata`). Keys: 1 to 63 letters, digits, ".", "_" or "-"; values: up to 256 characters.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ExecuteRequest = Static<typeof ExecuteRequest>;

export const ExecutionStatus = Type.Union(
  [
    Type.Literal('ok'),
    Type.Literal('error'),
    Type.Literal('timeout'),
    Type.Literal('oom'),
    Type.Literal('output_limit'),
    Type.Literal('killed'),
    Type.Literal('sandbox_error'),
    Type.Literal('compile_error'),
  ],
  {
    description:
      '`compile_error`: the compile failed (`compile` says how; its messages are in compile.stderr) and nothing ran. Otherwise, of the program (with tests: of its last run): `ok`: exit 0. `error`: non-zero exit. `timeout`: killed at the deadline. `oom`: out of memory. `output_limit`: stopped for writing far past the output cap. `killed`: ended by a signal (see `signal`), or, with `killedBy: pids_limit` and no signal, ended with its whole sandbox when its processes passed limits.pids (see `killedBy`). `sandbox_error`: the sandbox itself failed after the program started.',
  },
);
export type ExecutionStatus = Static<typeof ExecutionStatus>;

export const EffectiveLimits = Type.Object({
  timeoutMs: Type.Integer(),
  memoryMb: Type.Integer(),
  cpus: Type.Number(),
  pids: Type.Integer(),
  diskMb: Type.Integer(),
  outputBytes: Type.Integer(),
  openFiles: Type.Integer(),
  cpuTimeMs: Type.Optional(Type.Integer({ description: 'The CPU-time limit of each run, when one applied.' })),
  compile: Type.Optional(
    Type.Object(
      { timeoutMs: Type.Integer(), memoryMb: Type.Integer(), outputBytes: Type.Integer() },
      { description: 'A compiled language: the limits of its compile.' },
    ),
  ),
});
export type EffectiveLimits = Static<typeof EffectiveLimits>;

export const LimitsEnforced = Type.Object(
  {
    timeout: Type.Boolean(),
    memory: Type.Boolean(),
    cpu: Type.Boolean(),
    pids: Type.Boolean(),
    disk: Type.Boolean(),
    output: Type.Boolean(),
    openFiles: Type.Boolean(),
    cpuTime: Type.Boolean({
      description: 'True when a CPU-time limit applied and was enforced (by the launcher, from rusage, on every runtime); false when none was asked for.',
    }),
    network: Type.Boolean({ description: 'True when the sandbox had no network.' }),
    readOnlyRootfs: Type.Boolean(),
    seccomp: Type.Boolean({
      description:
        "True when the profile's syscall filter was applied (runc: by the host kernel; gVisor: inside its Sentry). False on Kata, whose guest applies it only when its configuration sets disable_guest_seccomp = false.",
    }),
  },
  { description: 'Which limits the chosen runtime really enforced for this execution.' },
);
export type LimitsEnforced = Static<typeof LimitsEnforced>;

export const BackendInfo = Type.Object({
  kind: RuntimeKind,
  ociRuntime: Type.String({ description: 'The containerd runtime name, e.g. io.containerd.kata-qemu.v2.' }),
  hypervisor: Type.Union([Hypervisor, Type.Null()]),
  isolation: Isolation,
  profile: Profile,
});
export type BackendInfo = Static<typeof BackendInfo>;

export const Timing = Type.Object(
  {
    queuedMs: Type.Number({ description: 'Waiting for a free slot.' }),
    setupMs: Type.Number({ description: 'From the slot to the program starting inside the sandbox.' }),
    runMs: Type.Number({ description: 'The program itself, to its exit.' }),
  },
  {
    description:
      'Where the time went. The answer leaves when the program ends: deleting the sandbox happens afterwards, in the background (the teardown phase of kata_exec_phase_duration_seconds).',
  },
);
export type Timing = Static<typeof Timing>;

export const Usage = Type.Union(
  [
    Type.Object({
      cpuUserMs: Type.Number({ description: 'CPU time in user mode, milliseconds.' }),
      cpuSysMs: Type.Number({ description: 'CPU time in the kernel, milliseconds.' }),
      maxRssKb: Type.Integer({ description: 'Peak resident set size, KiB.' }),
    }),
    Type.Null(),
  ],
  {
    description:
      "What the program used, from wait4's rusage in the sandbox (its waited-for children included). Null when its end was not seen: a timeout, the output cap, or a sandbox that died.",
  },
);
export type Usage = Static<typeof Usage>;

export const CompileStatus = Type.Union(
  [Type.Literal('ok'), Type.Literal('error'), Type.Literal('timeout'), Type.Literal('oom'), Type.Literal('output_limit')],
  {
    description:
      '`ok`: the compiler exited 0. `error`: it failed (non-zero exit, a signal, or its processes passed limits.pids: see `killedBy`). `timeout`: past compile.timeoutMs. `oom`: past compile.memoryMb or the sandbox\'s memory. `output_limit`: it wrote far past compile.outputBytes.',
  },
);
export type CompileStatus = Static<typeof CompileStatus>;

export const CompileResult = Type.Object(
  {
    status: CompileStatus,
    exitCode: Type.Union([Type.Integer(), Type.Null()]),
    signal: Type.Union([Type.String(), Type.Null()]),
    stdout: Type.String(),
    stderr: Type.String({ description: "The compiler's messages." }),
    truncated: Type.Boolean({ description: 'True when either stream exceeded compile.outputBytes (head and tail kept).' }),
    usage: Usage,
    durationMs: Type.Number({ description: 'Wall-clock time of the compile.' }),
  },
  { description: 'A compiled language: how its compile went. Absent for an interpreted one.' },
);
export type CompileResult = Static<typeof CompileResult>;

export const Verdict = Type.Union(
  [
    Type.Literal('accepted'),
    Type.Literal('wrong_answer'),
    Type.Literal('time_limit'),
    Type.Literal('memory_limit'),
    Type.Literal('runtime_error'),
    Type.Literal('output_limit'),
  ],
  {
    description:
      '`accepted`: ended by itself with exit 0 and, with expectedOutput, the same output (per `compare`). `wrong_answer`: a different output. `time_limit`: past its wall-clock or CPU-time limit. `memory_limit`: past its memory limit. `runtime_error`: a non-zero exit, a signal, or its processes passed limits.pids (the result\'s `killedBy`). `output_limit`: stdout or stderr past limits.outputBytes (the output cannot be judged whole).',
  },
);
export type Verdict = Static<typeof Verdict>;

export const TestResult = Type.Object({
  verdict: Verdict,
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  signal: Type.Union([Type.String(), Type.Null()]),
  stdout: Type.String({ description: 'Its stdout, at most limits.outputBytes (head and tail kept).' }),
  stderr: Type.String(),
  truncated: Type.Boolean(),
  cpuTimeMs: Type.Union([Type.Number(), Type.Null()], { description: 'User + system CPU time, ms (null when its end was not seen).' }),
  wallMs: Type.Number(),
  maxRssKb: Type.Union([Type.Integer(), Type.Null()], { description: 'Peak resident set size, KiB.' }),
  limits: Type.Object(
    {
      timeoutMs: Type.Integer(),
      cpuTimeMs: Type.Union([Type.Integer(), Type.Null()]),
      memoryMb: Type.Integer(),
    },
    { description: 'The limits this run had.' },
  ),
});
export type TestResult = Static<typeof TestResult>;

export const Summary = Type.Object({
  passed: Type.Integer({ description: 'Tests accepted.' }),
  total: Type.Integer({ description: 'Tests asked for (those that did not run, after a failed compile, count as not passed).' }),
});
export type Summary = Static<typeof Summary>;

export const ExecuteResult = Type.Object({
  id: Type.String({ description: 'Execution id: the request id in logs and the audit log; also the container id when the execution ran cold.' }),
  sandboxId: Type.String({
    description: 'The id of the container the program ran in: `id` on the cold path; a warm sandbox keeps the id it was created with.',
  }),
  status: ExecutionStatus,
  exitCode: Type.Union([Type.Integer(), Type.Null()], { description: 'The exit code; 128+N when ended by signal N; null when it never exited by itself.' }),
  signal: Type.Union([Type.String(), Type.Null()], { description: 'The signal that ended the program, e.g. SIGKILL.' }),
  killedBy: Type.Optional(
    Type.Literal('pids_limit', {
      description:
        "Present when the sandbox as a whole was ended by a limit of the program's rather than by a signal to it. `pids_limit`: its processes passed limits.pids and the host's pids cgroup ended the sandbox (gVisor, whose Sentry cannot outlive that backstop; runc and Kata refuse the fork instead, and the program goes on). Told by the host, never by the sandbox. The status is then `killed` (`compile_error` when it was the compile), `exitCode` and `signal` null; a test it ended is a `runtime_error`.",
    }),
  ),
  stdout: Type.String({ description: 'Standard output, as UTF-8; invalid bytes are replaced by U+FFFD.' }),
  stderr: Type.String(),
  truncated: Type.Boolean({ description: 'True when either stream exceeded limits.outputBytes; the head and the tail were kept.' }),
  droppedBytes: Type.Object({ stdout: Type.Integer(), stderr: Type.Integer() }, { description: 'Bytes left out of the middle of each stream.' }),
  value: Type.Optional(Type.Unknown({ description: 'The last stdout line of the form __OUT__:<json>, parsed. Absent when there is none or it is not valid JSON.' })),
  durationMs: Type.Number({ description: 'Wall-clock time of the whole execution, queue included.' }),
  timing: Timing,
  usage: Usage,
  language: Type.String(),
  backend: BackendInfo,
  limits: EffectiveLimits,
  limitsEnforced: LimitsEnforced,
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
  outputFiles: Type.Optional(
    Type.Array(
      Type.Object({
        path: Type.String({ description: 'Relative to /code.' }),
        size: Type.Integer({ description: 'Bytes.' }),
        contentBase64: Type.String({ description: 'The bytes, base64.' }),
      }),
      { description: 'With `outputFiles` in the request: the files that matched, in path order.' },
    ),
  ),
  outputFilesTruncated: Type.Optional(Type.Boolean({ description: 'True when matching files were left out (the count or byte bound).' })),
  compile: Type.Optional(CompileResult),
  tests: Type.Optional(
    Type.Array(TestResult, {
      description: 'With `tests`: one result per test that ran, in order (none after a failed compile). The top-level stdout, stderr and exitCode are then those of the last run.',
    }),
  ),
  verdict: Type.Optional(
    Type.Union([Verdict, Type.Literal('compile_error')], {
      description: 'With `tests`: the first verdict other than accepted, in test order, else accepted; `compile_error` when the compile failed.',
    }),
  ),
  summary: Type.Optional(Summary),
});
export type ExecuteResult = Static<typeof ExecuteResult>;
