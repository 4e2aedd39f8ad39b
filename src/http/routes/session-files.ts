/**
 * A session's files: PUT a raw body into its workspace, GET a file's bytes (a directory
 * comes as a tar archive), list a directory, DELETE. Every byte passes through the
 * session's launcher inside the sandbox, which walks the path one component at a time
 * without following links: a link the program made never points the service at a host
 * path, and never at anything outside the workspace either (PATH_NOT_ALLOWED).
 *
 * Its own plugin: uploads take any content type as raw bytes, up to
 * KATA_EXEC_SESSION_FILE_MAX_BYTES, which no other route does.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { SessionService } from '../../sessions/session-service.js';
import { Deleted, FileList, FileWritten } from '../../schemas/sessions.js';
import { expiresHeader, keyOf, SessionParams, sessionErrors, stateExpiry } from './sessions.js';

export interface SessionFileRouteOptions {
  sessions: SessionService;
  fileMaxBytes: number;
}

const FilePath = Type.Object({
  id: SessionParams.properties.id,
  '*': Type.String({ maxLength: 1024, description: 'The path under the workspace (/code), e.g. `out/chart.png`.' }),
});

const CONTENT_TYPES: Record<string, string> = {
  txt: 'text/plain; charset=utf-8',
  log: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  json: 'application/json',
  html: 'text/html; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  pdf: 'application/pdf',
  py: 'text/x-python; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  sh: 'text/x-shellscript; charset=utf-8',
  tar: 'application/x-tar',
  zip: 'application/zip',
};

/** By the name's extension; anything else is bytes. */
export function contentTypeOf(path: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  return (ext && CONTENT_TYPES[ext]) || 'application/octet-stream';
}

const fileErrors = sessionErrors({
  503: 'MEMORY_BUDGET_FULL (a download holds its worst case until written), SHUTTING_DOWN or DAEMON_UNAVAILABLE; honour Retry-After.',
  404: "SESSION_NOT_FOUND, or FILE_NOT_FOUND: no such file in the session's workspace.",
  409: 'NOT_A_FILE (e.g. an upload onto a directory) or SESSION_BUSY.',
  413: 'FILE_TOO_LARGE: over KATA_EXEC_SESSION_FILE_MAX_BYTES.',
  507: "DISK_FULL: the session's workspace is full.",
});

export const sessionFileRoutes: FastifyPluginAsyncTypebox<SessionFileRouteOptions> = async (app, opts) => {
  const s = opts.sessions;
  // Uploads are raw bytes, whatever their content type (in this plugin only).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.fileMaxBytes }, (_req, body, done) => done(null, body));

  app.put(
    '/v1/sessions/:id/files/*',
    {
      bodyLimit: opts.fileMaxBytes,
      schema: {
        operationId: 'putSessionFile',
        summary: "Write a file into a session's workspace",
        description:
          'The body, as raw bytes (any content type), becomes the file at the path under /code, replacing it; missing directories are made. Same path rules as `files` in execute. A symbolic link anywhere on the way is refused (PATH_NOT_ALLOWED), never followed.',
        tags: ['sessions'],
        params: FilePath,
        // Any content type, taken as raw bytes (not validated: any bytes are a file).
        consumes: ['application/octet-stream', '*/*'],
        body: { description: 'The file content, as raw bytes.' } as never,
        response: { 200: { ...FileWritten, headers: expiresHeader }, ...fileErrors },
      },
    },
    async (request, reply) => {
      const body = request.body as unknown;
      const data = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
      const r = await s.putFile(request.params.id, keyOf(request), request.params['*'], data);
      stateExpiry(reply, r.session.expiresAt);
      return r;
    },
  );

  app.get(
    '/v1/sessions/:id/files/*',
    {
      schema: {
        operationId: 'getSessionFile',
        summary: 'Download a file (or a directory, as a tar archive)',
        description:
          'A file comes back as its bytes, with a content type by its extension. A directory comes back as a tar archive (application/x-tar) of what it holds: files, directories, and links as links (never followed). Up to KATA_EXEC_SESSION_FILE_MAX_BYTES.',
        tags: ['sessions'],
        params: FilePath,
        response: {
          200: {
            description: 'The bytes, or a tar archive of the directory.',
            headers: expiresHeader,
            content: {
              'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
              'application/x-tar': { schema: { type: 'string', format: 'binary' } },
            },
          },
          ...fileErrors,
        },
      },
    },
    async (request, reply) => {
      const path = request.params['*'];
      const release = s.reserveDownload();
      reply.raw.once('close', release);
      const r = await s.getFile(request.params.id, keyOf(request), path);
      stateExpiry(reply, r.session.expiresAt);
      const name = (path.replace(/\/+$/, '').split('/').pop() || 'workspace').replace(/[^A-Za-z0-9_.-]/g, '_');
      if (r.kind === 'dir') {
        reply.header('content-type', 'application/x-tar').header('content-disposition', `attachment; filename="${name}.tar"`);
      } else {
        reply.header('content-type', contentTypeOf(path)).header('content-disposition', `attachment; filename="${name}"`);
      }
      return reply.send(r.data as never);
    },
  );

  app.get(
    '/v1/sessions/:id/files',
    {
      schema: {
        operationId: 'listSessionFiles',
        summary: "List a directory of a session's workspace (or download it as a tar)",
        description:
          'Entries with their type (file, dir, symlink, other), size and modification time; `recursive=true` walks the subdirectories (links are listed, never followed; at most 4096 entries). `format=tar` answers the directory as a tar archive instead.',
        tags: ['sessions'],
        params: SessionParams,
        querystring: Type.Object(
          {
            path: Type.Optional(Type.String({ maxLength: 1024, description: 'The directory, relative to the workspace; default: the workspace itself.' })),
            recursive: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
            format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('tar')])),
          },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'The listing (JSON), or with format=tar the archive.',
            headers: expiresHeader,
            content: {
              'application/json': { schema: FileList },
              'application/x-tar': { schema: { type: 'string', format: 'binary' } },
            },
          },
          ...fileErrors,
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      if (q.format === 'tar') {
        const release = s.reserveDownload();
        reply.raw.once('close', release);
        const r = await s.getFile(request.params.id, keyOf(request), q.path ?? '', true);
        stateExpiry(reply, r.session.expiresAt);
        const name = ((q.path ?? '').replace(/\/+$/, '').split('/').pop() || 'workspace').replace(/[^A-Za-z0-9_.-]/g, '_');
        return reply.header('content-type', 'application/x-tar').header('content-disposition', `attachment; filename="${name}.tar"`).send(r.data as never);
      }
      const l = await s.listFiles(request.params.id, keyOf(request), q.path ?? '', q.recursive === 'true');
      stateExpiry(reply, l.session.expiresAt);
      return l;
    },
  );

  app.delete(
    '/v1/sessions/:id/files/*',
    {
      schema: {
        operationId: 'deleteSessionFile',
        summary: 'Delete a file, a link (never its target) or a directory with all it holds',
        tags: ['sessions'],
        params: FilePath,
        response: { 200: { ...Deleted, headers: expiresHeader }, ...fileErrors },
      },
    },
    async (request, reply) => {
      const r = await s.deleteFile(request.params.id, keyOf(request), request.params['*']);
      stateExpiry(reply, r.session.expiresAt);
      return r;
    },
  );
};
