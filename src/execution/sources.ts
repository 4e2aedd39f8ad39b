/**
 * A request's program as files under /code: `code`, `files` or both, the entry point, and
 * their validation. Pure: every problem is a field error naming the file at fault.
 */
import { type FieldError, InvalidRequestError } from '../errors.js';
import type { SourceFile } from '../schemas/execute.js';
import type { SandboxFile } from '../sandbox/types.js';

export const MAX_FILE_DEPTH = 8;
export const RESERVED_ENV = ['PATH', 'HOME', 'TMPDIR', 'LANG'] as const;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

export function pathProblem(p: string): string | null {
  if (p.startsWith('/')) return 'must be relative';
  const parts = p.split('/');
  if (parts.some((x) => x === '' || x === '.' || x === '..')) return 'must not contain "", "." or ".." parts';
  if (parts.length > MAX_FILE_DEPTH) return `must be at most ${MAX_FILE_DEPTH} levels deep`;
  if (!/^[A-Za-z0-9_./-]+$/.test(p)) return 'may only use letters, digits, ".", "_", "-" and "/"';
  return null;
}

export interface Sources {
  files: SandboxFile[];
  /** Path under /code of the file to run. */
  entry: string;
}

/**
 * `code` alone is the entry point (main.<ext>). With `files`, `code` (if any) is one more
 * file and the default entry point; otherwise `entrypoint`, or the first file.
 */
export function buildSources(req: { code?: string; files?: SourceFile[]; entrypoint?: string }, defaultFile: string): Sources {
  const errs: FieldError[] = [];
  if (req.code === undefined && !req.files?.length) {
    throw new InvalidRequestError([{ path: '/code', message: 'is required unless files are given' }]);
  }
  const files: SandboxFile[] = [];
  const seen = new Set<string>();
  const add = (path: string, content: Buffer, at: string) => {
    const problem = pathProblem(path);
    if (problem) errs.push({ path: at, message: `"${path}" ${problem}` });
    else if (seen.has(path) || [...seen].some((s) => s.startsWith(`${path}/`) || path.startsWith(`${s}/`))) {
      errs.push({ path: at, message: `"${path}" clashes with another file` });
    }
    seen.add(path);
    files.push({ path, content });
  };
  if (req.code !== undefined) add(defaultFile, Buffer.from(req.code, 'utf8'), '/code');
  (req.files ?? []).forEach((f, i) => {
    let content: Buffer;
    if (f.encoding === 'base64') {
      const clean = f.content.replace(/\s+/g, '');
      if (clean.length % 4 !== 0 || !BASE64_RE.test(clean)) {
        errs.push({ path: `/files/${i}/content`, message: `"${f.path}" is not valid base64` });
        return;
      }
      content = Buffer.from(clean, 'base64');
    } else {
      content = Buffer.from(f.content, 'utf8');
    }
    add(f.path, content, `/files/${i}/path`);
  });
  let entry = req.code !== undefined ? defaultFile : (req.files?.[0]?.path ?? defaultFile);
  if (req.entrypoint !== undefined) {
    if (!seen.has(req.entrypoint)) errs.push({ path: '/entrypoint', message: `"${req.entrypoint}" is not one of the files` });
    entry = req.entrypoint;
  }
  if (errs.length) throw new InvalidRequestError(errs);
  return { files, entry };
}

/** The program's environment: the sandbox's own variables, then the request's. */
export function buildEnv(base: readonly string[], extra: Record<string, string> | undefined): string[] {
  if (!extra) return [...base];
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(extra)) {
    if (!ENV_NAME_RE.test(k)) errs.push({ path: `/env/${k}`, message: 'is not a valid variable name' });
    else if ((RESERVED_ENV as readonly string[]).includes(k)) errs.push({ path: `/env/${k}`, message: 'is set by the sandbox and cannot be changed' });
    else if (v.includes('\0')) errs.push({ path: `/env/${k}`, message: 'must not contain NUL' });
  }
  if (errs.length) throw new InvalidRequestError(errs);
  const names = new Set(Object.keys(extra));
  return [...base.filter((e) => !names.has(e.slice(0, e.indexOf('=')))), ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)];
}

export function checkArgs(args: readonly string[] | undefined): string[] {
  if (!args) return [];
  const bad = args.findIndex((a) => a.includes('\0'));
  if (bad >= 0) throw new InvalidRequestError([{ path: `/args/${bad}`, message: 'must not contain NUL' }]);
  return [...args];
}
