/**
 * The MCP tools of /mcp: what a model sees (name, description, input and output schemas)
 * and what a call does. The schemas are the REST API's own TypeBox schemas, so `run_code`
 * takes exactly what POST /v1/execute takes, is validated by the same rules and answers the
 * same result; `list_runtimes` answers what GET /v1/runtimes says.
 *
 * A program that fails is a successful tool call (its status and exit code are the
 * answer). Only the service's refusals are tool errors (`isError`), whose text starts with
 * the stable error code, e.g. `UNKNOWN_LANGUAGE: ...`.
 */
import { Ajv, type ErrorObject } from 'ajv';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, InvalidRequestError, KataExecError, NotAFileError, isKataExecError, type FieldError } from '../../errors.js';
import type { Catalog } from '../../host/catalog.js';
import type { ExecuteContext, ExecutionService } from '../../queue/execution-service.js';
import { ExecuteRequest, ExecuteResult } from '../../schemas/execute.js';
import { RuntimesInfo } from '../../schemas/runtimes.js';
import { CreateSessionRequest, Deleted, FileList, FileWritten, Session, SessionExecuteRequest, SessionExecuteResult, SessionRef } from '../../schemas/sessions.js';
import type { SessionService } from '../../sessions/session-service.js';
import { Type } from 'typebox';
import { fieldsFromValidation } from '../error-handler.js';

export const TOOL_NAMES = [
  'run_code',
  'list_runtimes',
  'create_session',
  'execute_in_session',
  'write_file',
  'read_file',
  'list_files',
  'close_session',
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

/** A TypeBox schema as the plain JSON Schema object MCP carries. */
function jsonSchema(schema: unknown): Tool['inputSchema'] {
  return JSON.parse(JSON.stringify(schema)) as Tool['inputSchema'];
}

const RUN_CODE_DESCRIPTION = [
  'Run a program once in a brand-new, isolated sandbox and get back what it printed.',
  'Each call gets its own fresh sandbox (a Kata VM, a gVisor sandbox or a runc container, per the server; `backend` in the result says which), deleted when the program ends: nothing persists between calls, so send every file the program needs in the same call.',
  'The sandbox has no network. The program runs as an unprivileged user; its code is under /code (read-only) and only /tmp is writable. Memory, CPU, processes, disk, output and wall-clock time are limited (list_runtimes gives the defaults and maxima; `limits` and `timeoutMs` ask for others up to the maxima).',
  'Give `language` (python, javascript or bash) and either `code` (one file) or `files` (several, with `entrypoint`). Optional: `stdin`, `args`, `env`, `profile`, `limits`, `timeoutMs`, and `outputFiles` (globs under /code, e.g. `out/*.png`) to get the files the program wrote back in the result, base64.',
  'The result: `status` (ok, error, timeout, oom, output_limit, killed, sandbox_error), `exitCode`, `stdout`, `stderr` (each capped; `truncated` says when the middle was dropped), `durationMs` and the limits applied. A program that fails is NOT a tool error: read `status`, `exitCode` and `stderr`. To return structured data, print one last line `__OUT__:<json>`; it comes back parsed as `value`.',
  'The tool fails (isError, text starting with a stable code) only when the service refuses: VALIDATION_FAILED, UNKNOWN_LANGUAGE, LIMIT_EXCEEDED, PROFILE_NOT_SUPPORTED, QUOTA_EXCEEDED or RATE_LIMITED (wait and retry), QUEUE_FULL or MEMORY_BUDGET_FULL (busy: retry later).',
].join('\n\n');

const LIST_RUNTIMES_DESCRIPTION =
  'What this sandbox service runs: the languages with their versions and aliases, the sandbox runtime in use (Kata VM, gVisor or runc) and the others installed, the default and maximum of every limit run_code accepts (timeoutMs, memoryMb, cpus, pids, diskMb, outputBytes, openFiles), and the profiles (dev, standard, hardened) with whether each is available here. Takes no arguments.';

const SESSION_ID = Type.String({ minLength: 1, maxLength: 64, description: 'The id create_session returned.' });
const FILE_PATH = Type.String({
  minLength: 1,
  maxLength: 255,
  description: 'A path relative to the workspace /code, e.g. `data/in.csv`: letters, digits, ".", "_", "-", "/"; no "..".',
});

export const ExecuteInSessionArgs = Type.Object({ session_id: SESSION_ID, ...SessionExecuteRequest.properties }, { additionalProperties: false });
export const WriteFileArgs = Type.Object(
  {
    session_id: SESSION_ID,
    path: FILE_PATH,
    content: Type.String({ description: 'The content, in `encoding`.' }),
    encoding: Type.Optional(Type.Union([Type.Literal('utf8'), Type.Literal('base64')], { description: 'utf8 (default) or base64 for binary data.' })),
  },
  { additionalProperties: false },
);
export const ReadFileArgs = Type.Object({ session_id: SESSION_ID, path: FILE_PATH }, { additionalProperties: false });
export const ListFilesArgs = Type.Object(
  {
    session_id: SESSION_ID,
    path: Type.Optional(Type.String({ maxLength: 255, description: 'The directory, relative to /code; default: /code itself.' })),
    recursive: Type.Optional(Type.Boolean({ description: 'Walk the subdirectories too.' })),
  },
  { additionalProperties: false },
);
export const SessionIdArgs = Type.Object({ session_id: SESSION_ID }, { additionalProperties: false });
export const FileRead = Type.Object({
  path: Type.String(),
  size: Type.Integer(),
  encoding: Type.Union([Type.Literal('utf8'), Type.Literal('base64')], { description: 'utf8 when the bytes are valid UTF-8 text, else base64.' }),
  content: Type.String(),
  session: SessionRef,
});

const SESSION_NOTE =
  'A session is one sandbox that stays up across calls: files under /code (its workspace) persist between execute_in_session calls until close_session or its expiry (`expiresAt` in every answer; each call pushes the idle deadline back).';

export const TOOLS: readonly Tool[] = [
  {
    name: 'run_code',
    title: 'Run code in a fresh sandbox',
    description: RUN_CODE_DESCRIPTION,
    inputSchema: jsonSchema(ExecuteRequest),
    outputSchema: jsonSchema(ExecuteResult),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  {
    name: 'list_runtimes',
    title: 'List languages, runtimes and limits',
    description: LIST_RUNTIMES_DESCRIPTION,
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    outputSchema: jsonSchema(RuntimesInfo),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'create_session',
    title: 'Create a sandbox session',
    description: `Create a sandbox that stays up for many steps, and get its \`id\` (pass it as session_id to the other session tools). ${SESSION_NOTE} Optional: \`profile\`, \`limits\` (memoryMb, cpus, pids, diskMb, openFiles: fixed for its life), \`idleTimeoutMs\`, \`maxLifetimeMs\` (list_runtimes gives defaults and maxima). Close it with close_session when done: a key may hold only a few sessions (SESSION_LIMIT).`,
    inputSchema: jsonSchema(CreateSessionRequest),
    outputSchema: jsonSchema(Session),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  {
    name: 'execute_in_session',
    title: 'Run code in a session',
    description: `Run a program in a session's sandbox, with the same arguments and result as run_code (but \`profile\`, \`outputFiles\` and the sandbox limits, which are the session's; \`limits.outputBytes\` and \`limits.cpuTimeMs\` are per call). A compiled language is compiled there first, and \`tests\` run there, as in run_code. It runs in /code, where the files of earlier calls and of write_file are; \`code\` and \`files\` are written there too, and what the program writes there stays for the next calls. Every process it starts ends with the call. A failing program is not a tool error: read \`status\`, \`exitCode\` and \`stderr\`. ${SESSION_NOTE}`,
    inputSchema: jsonSchema(ExecuteInSessionArgs),
    outputSchema: jsonSchema(SessionExecuteResult),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  {
    name: 'write_file',
    title: "Write a file into a session's workspace",
    description: 'Write `content` (utf8 text, or base64 for binary) to `path` under /code in the session, replacing it; directories are made. The program of the next execute_in_session sees it. A path through a symbolic link is refused (PATH_NOT_ALLOWED).',
    inputSchema: jsonSchema(WriteFileArgs),
    outputSchema: jsonSchema(FileWritten),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'read_file',
    title: "Read a file from a session's workspace",
    description: 'Read the file at `path` under /code in the session (e.g. a result or a chart a program wrote). Text comes back as utf8, anything else as base64 (`encoding` says which). FILE_NOT_FOUND when there is none; NOT_A_FILE for a directory (use list_files); FILE_TOO_LARGE past the server bound.',
    inputSchema: jsonSchema(ReadFileArgs),
    outputSchema: jsonSchema(FileRead),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'list_files',
    title: "List a session's workspace",
    description: 'List a directory under /code in the session (default: /code itself): each entry\'s path, type (file, dir, symlink, other), size and modification time; `recursive` walks the subdirectories.',
    inputSchema: jsonSchema(ListFilesArgs),
    outputSchema: jsonSchema(FileList),
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: 'close_session',
    title: 'Close a session',
    description: 'Delete the session and its sandbox with every file in it. Do this when done: sessions count against a per-key limit until they expire.',
    inputSchema: jsonSchema(SessionIdArgs),
    outputSchema: jsonSchema(Deleted),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  },
];

// The options of the app's own validator (src/app.ts), so a field fails here exactly as
// it fails on POST /v1/execute, with the same messages.
const ajv = new Ajv({ allErrors: true, removeAdditional: false, coerceTypes: false, strict: false });
const validateExecute = ajv.compile<ExecuteRequest>(jsonSchema(ExecuteRequest));

export function parseRunCodeArguments(args: unknown): ExecuteRequest {
  if (validateExecute(args)) return args;
  throw new InvalidRequestError(fieldsFromValidation(validateExecute.errors as ErrorObject[]));
}

function validator<T>(schema: unknown): (args: unknown) => T {
  const v = ajv.compile<T>(jsonSchema(schema));
  return (args) => {
    if (v(args ?? {})) return (args ?? {}) as T;
    throw new InvalidRequestError(fieldsFromValidation(v.errors as ErrorObject[]));
  };
}

const parse = {
  create_session: validator<CreateSessionRequest>(CreateSessionRequest),
  execute_in_session: validator<{ session_id: string } & SessionExecuteRequest>(ExecuteInSessionArgs),
  write_file: validator<{ session_id: string; path: string; content: string; encoding?: 'utf8' | 'base64' }>(WriteFileArgs),
  read_file: validator<{ session_id: string; path: string }>(ReadFileArgs),
  list_files: validator<{ session_id: string; path?: string; recursive?: boolean }>(ListFilesArgs),
  close_session: validator<{ session_id: string }>(SessionIdArgs),
};

const structured = (text: string, value: unknown): CallToolResult => ({ content: [{ type: 'text', text }], structuredContent: value as Record<string, unknown> });

/** The session tools: each is one call of the SessionService, as its REST route makes. */
async function sessionTool(name: Exclude<ToolName, 'run_code' | 'list_runtimes'>, args: unknown, deps: ToolDeps, ctx: ExecuteContext): Promise<CallToolResult> {
  const sessions = deps.sessions;
  const key = ctx.key ?? 'anonymous';
  switch (name) {
    case 'create_session': {
      const s = await sessions.create(parse.create_session(args), key, ctx.requestId);
      return structured(`session ${s.id} created; it expires at ${s.expiresAt} unless used (idle timeout ${s.idleTimeoutMs} ms), and at ${s.maxExpiresAt} at the latest`, s);
    }
    case 'execute_in_session': {
      const { session_id, ...req } = parse.execute_in_session(args);
      await deps.admitExecution();
      const r = await sessions.execute(session_id, key, req, ctx);
      return structured(`${resultText(r)}\nsession ${r.session.id} expires at ${r.session.expiresAt}`, r);
    }
    case 'write_file': {
      const a = parse.write_file(args);
      const data = a.encoding === 'base64' ? Buffer.from(a.content, 'base64') : Buffer.from(a.content, 'utf8');
      const r = await sessions.putFile(a.session_id, key, a.path, data);
      return structured(`wrote ${r.size} bytes to /code/${r.path}; session expires at ${r.session.expiresAt}`, r);
    }
    case 'read_file': {
      const a = parse.read_file(args);
      const r = await sessions.getFile(a.session_id, key, a.path);
      if (r.kind === 'dir') throw new NotAFileError(`${JSON.stringify(a.path)} is a directory: use list_files`);
      const text = r.data.toString('utf8');
      const utf8 = Buffer.from(text, 'utf8').equals(r.data);
      const out = { path: a.path, size: r.data.length, encoding: utf8 ? ('utf8' as const) : ('base64' as const), content: utf8 ? text : r.data.toString('base64'), session: r.session };
      return structured(utf8 ? text : `(${r.data.length} bytes of binary data, base64 in structuredContent.content)`, out);
    }
    case 'list_files': {
      const a = parse.list_files(args);
      const r = await sessions.listFiles(a.session_id, key, a.path ?? '', a.recursive ?? false);
      const lines = r.entries.map((e) => `${e.type}\t${e.size}\t${e.path}`);
      return structured(lines.length ? lines.join('\n') : '(empty)', r);
    }
    case 'close_session': {
      const a = parse.close_session(args);
      await sessions.remove(a.session_id, key, ctx.requestId);
      return structured(`session ${a.session_id} closed`, { deleted: a.session_id });
    }
  }
}

export function isToolName(name: string): name is ToolName {
  return (TOOL_NAMES as readonly string[]).includes(name);
}

/** What a program did, for a reader: the structured result carries everything else. */
export function resultText(r: ExecuteResult): string {
  const lines = [
    `status: ${r.status}${r.signal ? ` (${r.signal})` : ''}`,
    `exit code: ${r.exitCode ?? 'none'}`,
    `duration: ${r.durationMs} ms on ${r.backend.kind}`,
  ];
  const usage = (r as ExecuteResult & { usage?: unknown }).usage;
  if (usage !== undefined && usage !== null) lines.push(`usage: ${JSON.stringify(usage)}`);
  if (r.truncated) lines.push(`truncated: ${r.droppedBytes.stdout} bytes of stdout and ${r.droppedBytes.stderr} of stderr dropped from the middle`);
  if (r.value !== undefined) lines.push(`value: ${JSON.stringify(r.value)}`);
  lines.push(`stdout:\n${r.stdout}`, `stderr:\n${r.stderr}`);
  return lines.join('\n');
}

/** A service refusal as a tool error: the stable code first, then what to do about it. */
export function errorResult(err: KataExecError): CallToolResult {
  const parts = [`${err.code}: ${err.message}`];
  if (err.fields?.length) parts.push(`fields: ${JSON.stringify(err.fields satisfies FieldError[])}`);
  if (err.retryAfterSeconds !== undefined) parts.push(`retry after: ${err.retryAfterSeconds} s`);
  return { isError: true, content: [{ type: 'text', text: parts.join('\n') }] };
}

export interface ToolDeps {
  service: ExecutionService;
  sessions: SessionService;
  catalog: Catalog;
  /**
   * Admits one execution under the per-key rate limit; throws RateLimitedError past it.
   * Counted per run_code call, as POST /v1/execute counts per request.
   */
  admitExecution: () => Promise<void>;
  onCall?: (tool: string, outcome: string) => void;
  /** Unknown errors are logged here (their text never reaches the client). */
  onInternalError?: (err: unknown) => void;
}

/**
 * Runs one tool call. Never throws for what the service refuses: that is a tool error with
 * its code. Unknown errors become INTERNAL, with the detail only in the log.
 */
export async function callTool(name: ToolName, args: unknown, deps: ToolDeps, ctx: ExecuteContext): Promise<CallToolResult> {
  try {
    let result: CallToolResult;
    if (name === 'run_code') {
      const req = parseRunCodeArguments(args ?? {});
      await deps.admitExecution();
      const r = await deps.service.execute(req, ctx);
      result = { content: [{ type: 'text', text: resultText(r) }], structuredContent: r as unknown as Record<string, unknown> };
    } else if (name !== 'list_runtimes') {
      result = await sessionTool(name, args, deps, ctx);
    } else {
      if (args !== undefined && (typeof args !== 'object' || args === null || Object.keys(args).length > 0)) {
        throw new InvalidRequestError([{ path: '/', message: 'list_runtimes takes no arguments' }]);
      }
      const info = await deps.catalog.describe();
      result = { content: [{ type: 'text', text: JSON.stringify(info, null, 2) }], structuredContent: info as unknown as Record<string, unknown> };
    }
    deps.onCall?.(name, 'ok');
    return result;
  } catch (err) {
    if (isKataExecError(err)) {
      deps.onCall?.(name, err.code);
      return errorResult(err);
    }
    deps.onInternalError?.(err);
    deps.onCall?.(name, ErrorCode.Internal);
    return errorResult(new KataExecError(ErrorCode.Internal, `internal error; quote request id ${ctx.requestId}`));
  }
}
