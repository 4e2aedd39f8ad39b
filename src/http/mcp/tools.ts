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
import { ErrorCode, InvalidRequestError, KataExecError, isKataExecError, type FieldError } from '../../errors.js';
import type { Catalog } from '../../host/catalog.js';
import type { ExecuteContext, ExecutionService } from '../../queue/execution-service.js';
import { ExecuteRequest, ExecuteResult } from '../../schemas/execute.js';
import { RuntimesInfo } from '../../schemas/runtimes.js';
import { fieldsFromValidation } from '../error-handler.js';

export const TOOL_NAMES = ['run_code', 'list_runtimes'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

/** A TypeBox schema as the plain JSON Schema object MCP carries. */
function jsonSchema(schema: unknown): Tool['inputSchema'] {
  return JSON.parse(JSON.stringify(schema)) as Tool['inputSchema'];
}

const RUN_CODE_DESCRIPTION = [
  'Run a program once in a brand-new, isolated sandbox and get back what it printed.',
  'Each call gets its own fresh sandbox (a Kata VM, a gVisor sandbox or a runc container, per the server; `backend` in the result says which), deleted when the program ends: nothing persists between calls, so send every file the program needs in the same call.',
  'The sandbox has no network. The program runs as an unprivileged user; its code is under /code (read-only) and only /tmp is writable. Memory, CPU, processes, disk, output and wall-clock time are limited (list_runtimes gives the defaults and maxima; `limits` and `timeoutMs` ask for others up to the maxima).',
  'Give `language` (python, javascript or bash) and either `code` (one file) or `files` (several, with `entrypoint`). Optional: `stdin`, `args`, `env`, `profile`, `limits`, `timeoutMs`.',
  'The result: `status` (ok, error, timeout, oom, output_limit, killed, sandbox_error), `exitCode`, `stdout`, `stderr` (each capped; `truncated` says when the middle was dropped), `durationMs` and the limits applied. A program that fails is NOT a tool error: read `status`, `exitCode` and `stderr`. To return structured data, print one last line `__OUT__:<json>`; it comes back parsed as `value`.',
  'The tool fails (isError, text starting with a stable code) only when the service refuses: VALIDATION_FAILED, UNKNOWN_LANGUAGE, LIMIT_EXCEEDED, PROFILE_NOT_SUPPORTED, QUOTA_EXCEEDED or RATE_LIMITED (wait and retry), QUEUE_FULL or MEMORY_BUDGET_FULL (busy: retry later).',
].join('\n\n');

const LIST_RUNTIMES_DESCRIPTION =
  'What this sandbox service runs: the languages with their versions and aliases, the sandbox runtime in use (Kata VM, gVisor or runc) and the others installed, the default and maximum of every limit run_code accepts (timeoutMs, memoryMb, cpus, pids, diskMb, outputBytes, openFiles), and the profiles (dev, standard, hardened) with whether each is available here. Takes no arguments.';

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
];

// The options of the app's own validator (src/app.ts), so a field fails here exactly as
// it fails on POST /v1/execute, with the same messages.
const ajv = new Ajv({ allErrors: true, removeAdditional: false, coerceTypes: false, strict: false });
const validateExecute = ajv.compile<ExecuteRequest>(jsonSchema(ExecuteRequest));

export function parseRunCodeArguments(args: unknown): ExecuteRequest {
  if (validateExecute(args)) return args;
  throw new InvalidRequestError(fieldsFromValidation(validateExecute.errors as ErrorObject[]));
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
