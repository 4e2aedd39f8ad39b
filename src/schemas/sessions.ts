/** The wire types of sessions (/v1/sessions) and their files and background processes. */
import { Type, type Static } from 'typebox';
import { BackendInfo, ExecuteRequest, ExecuteResult, Limits } from './execute.js';
import { Profile } from './common.js';
import { MIN_MEMORY_MB } from '../units.js';

export const SessionLimits = Type.Object(
  {
    memoryMb: Type.Optional(Type.Integer({ minimum: MIN_MEMORY_MB, description: 'Memory of the whole session (MiB): every call and background process share it.' })),
    cpus: Type.Optional(Type.Number({ minimum: 0.01, description: 'CPU quota of the session, in cores.' })),
    pids: Type.Optional(Type.Integer({ minimum: 1, description: 'Processes and threads at once, background ones included.' })),
    diskMb: Type.Optional(Type.Integer({ minimum: 1, description: 'Size of the workspace (/code, where files persist between calls) and of /tmp, each, in MiB.' })),
    openFiles: Type.Optional(Type.Integer({ minimum: 8, description: 'RLIMIT_NOFILE inside the session.' })),
  },
  { additionalProperties: false, description: "The session's sandbox limits, fixed at creation. Omitted ones take the profile's or the server's default; each is capped by the server maximum." },
);
export type SessionLimits = Static<typeof SessionLimits>;

export const CreateSessionRequest = Type.Object(
  {
    profile: Type.Optional(Profile),
    limits: Type.Optional(SessionLimits),
    idleTimeoutMs: Type.Optional(Type.Integer({ minimum: 1000, description: 'The session is deleted after this long without a call (files, executions and process calls count). Default and maximum: GET /v1/runtimes.' })),
    maxLifetimeMs: Type.Optional(Type.Integer({ minimum: 1000, description: 'The session is deleted this long after its creation, whatever it does.' })),
  },
  { additionalProperties: false },
);
export type CreateSessionRequest = Static<typeof CreateSessionRequest>;

export const EffectiveSessionLimits = Type.Object({
  memoryMb: Type.Integer(),
  cpus: Type.Number(),
  pids: Type.Integer(),
  diskMb: Type.Integer(),
  openFiles: Type.Integer(),
});
export type EffectiveSessionLimits = Static<typeof EffectiveSessionLimits>;

export const Session = Type.Object({
  id: Type.String({ description: 'The session id (also its sandbox\'s container id).' }),
  profile: Profile,
  limits: EffectiveSessionLimits,
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.String({ format: 'date-time', description: 'The start or end of its last call.' }),
  expiresAt: Type.String({ format: 'date-time', description: 'When the session will be deleted unless it is used before: the sooner of idleExpiresAt and maxExpiresAt. Each call pushes idleExpiresAt back.' }),
  idleExpiresAt: Type.String({ format: 'date-time' }),
  maxExpiresAt: Type.String({ format: 'date-time', description: 'The end of its maximum lifetime: no call moves it.' }),
  idleTimeoutMs: Type.Integer(),
  maxLifetimeMs: Type.Integer(),
  backend: BackendInfo,
});
export type Session = Static<typeof Session>;

export const SessionList = Type.Object({ sessions: Type.Array(Session) });
export type SessionList = Static<typeof SessionList>;

/** What every answer about a session says of it. */
export const SessionRef = Type.Object({
  id: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
  ended: Type.Optional(
    Type.Literal(true, {
      description:
        "Present when this call's sandbox is gone, so the session ended with it: the program ended it (on gVisor, a fork bomb past the host's pids backstop: `killedBy: pids_limit`) or it died. Its next request is 410 SESSION_GONE: create a new session.",
    }),
  ),
});
export type SessionRef = Static<typeof SessionRef>;

// A session's call: what POST /v1/execute takes but the sandbox's own settings (profile,
// the limits fixed at creation) and outputFiles (the session's files are there to read).
const { profile: _profile, limits: _limits, outputFiles: _outputFiles, ...callFields } = ExecuteRequest.properties;

export const SessionExecuteRequest = Type.Object(
  {
    ...callFields,
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 1, description: "Wall-clock timeout of this call in milliseconds (the session's sandbox is already running). Default KATA_EXEC_TIMEOUT_MS_DEFAULT." }),
    ),
    limits: Type.Optional(
      Type.Object(
        {
          outputBytes: Type.Optional(Type.Integer({ minimum: 1, description: 'Cap on each of stdout and stderr of this call, in bytes.' })),
          cpuTimeMs: Limits.properties.cpuTimeMs,
        },
        { additionalProperties: false, description: "A call's own limits; the others are the session's, fixed at its creation." },
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      "As POST /v1/execute, in the session's sandbox: `code` and `files` are written under /code, the workspace, over what is there; files the program writes there stay for the next calls. The call's processes end with it. A compiled language is compiled there first (`compile` in the answer; its binary stays in /code), and `tests` run there, each a fresh process with its own limits, as in POST /v1/execute; the compile's and the tests' memoryMb are at most the session's memoryMb (the compile's defaults to the smaller of the two), and background processes neither count in a run's CPU time or memory nor are ended by its limits.",
  },
);
export type SessionExecuteRequest = Static<typeof SessionExecuteRequest>;

export const SessionExecuteResult = Type.Object({ ...ExecuteResult.properties, session: SessionRef });
export type SessionExecuteResult = Static<typeof SessionExecuteResult>;

export const FileEntry = Type.Object({
  path: Type.String({ description: 'Relative to the workspace (/code).' }),
  type: Type.Union([Type.Literal('file'), Type.Literal('dir'), Type.Literal('symlink'), Type.Literal('other')], {
    description: '`symlink`: a link the program made; listed, never followed.',
  }),
  size: Type.Integer({ description: 'Bytes (a link: the length of its target).' }),
  modifiedAt: Type.String({ format: 'date-time' }),
});
export type FileEntry = Static<typeof FileEntry>;

export const FileList = Type.Object({
  path: Type.String({ description: 'The directory listed ("" is the workspace).' }),
  entries: Type.Array(FileEntry),
  truncated: Type.Boolean({ description: 'True past 4096 entries.' }),
  session: SessionRef,
});
export type FileList = Static<typeof FileList>;

export const FileWritten = Type.Object({ path: Type.String(), size: Type.Integer(), session: SessionRef });
export type FileWritten = Static<typeof FileWritten>;

export const Deleted = Type.Object({ deleted: Type.String(), session: Type.Optional(SessionRef) });
export type Deleted = Static<typeof Deleted>;

export const StartProcessRequest = Type.Object(
  {
    language: ExecuteRequest.properties.language,
    code: ExecuteRequest.properties.code,
    files: ExecuteRequest.properties.files,
    entrypoint: ExecuteRequest.properties.entrypoint,
    args: ExecuteRequest.properties.args,
    env: ExecuteRequest.properties.env,
    logFile: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        pattern: '^[A-Za-z0-9_.-][A-Za-z0-9_./-]*$',
        description: 'A workspace file that receives its stdout and stderr (appended). Default: discarded.',
      }),
    ),
  },
  { additionalProperties: false, description: 'A program that keeps running in the session after this call, until stopped or the session ends.' },
);
export type StartProcessRequest = Static<typeof StartProcessRequest>;

export const BackgroundProcess = Type.Object({
  id: Type.Integer({ description: 'Its id in the session (for DELETE).' }),
  pid: Type.Integer({ description: 'Its keeper\'s pid inside the sandbox.' }),
  running: Type.Boolean(),
  exitCode: Type.Union([Type.Integer(), Type.Null()], { description: 'Once it ended: its exit code (128+N for signal N).' }),
});
export type BackgroundProcess = Static<typeof BackgroundProcess>;

export const ProcessList = Type.Object({ processes: Type.Array(BackgroundProcess), session: SessionRef });
export type ProcessList = Static<typeof ProcessList>;

export const StartedProcess = Type.Object({ ...BackgroundProcess.properties, session: SessionRef });
export type StartedProcess = Static<typeof StartedProcess>;
