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
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, description: 'Wall-clock timeout in milliseconds, sandbox start included.' })),
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
            'Files the program leaves under /code that come back in the result (`outputFiles`, base64): regular files only, never through a link, at most KATA_EXEC_OUTPUT_FILES_MAX_COUNT files and KATA_EXEC_OUTPUT_FILES_MAX_BYTES bytes in all (`outputFilesTruncated` says when some were left out). For charts and generated data.',
        },
      ),
    ),
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
  ],
  {
    description:
      '`ok`: exit 0. `error`: non-zero exit. `timeout`: killed at the deadline. `oom`: out of memory. `output_limit`: stopped for writing far past the output cap. `killed`: ended by a signal (see `signal`). `sandbox_error`: the sandbox itself failed after the program started.',
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

export const ExecuteResult = Type.Object({
  id: Type.String({ description: 'Execution id: the request id in logs and the audit log; also the container id when the execution ran cold.' }),
  sandboxId: Type.String({
    description: 'The id of the container the program ran in: `id` on the cold path; a warm sandbox keeps the id it was created with.',
  }),
  status: ExecutionStatus,
  exitCode: Type.Union([Type.Integer(), Type.Null()], { description: 'The exit code; 128+N when ended by signal N; null when it never exited by itself.' }),
  signal: Type.Union([Type.String(), Type.Null()], { description: 'The signal that ended the program, e.g. SIGKILL.' }),
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
});
export type ExecuteResult = Static<typeof ExecuteResult>;
