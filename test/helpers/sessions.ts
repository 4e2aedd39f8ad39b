/** HTTP helpers for sessions, over a real service (integration) or any URL (Kata tier). */
import { request } from 'undici';
import { expect } from 'vitest';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: any;
}

export async function call(
  url: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  o: { json?: unknown; body?: Buffer | string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  let body: Buffer | string | undefined;
  if (o.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.json);
  } else if (o.body !== undefined) {
    headers['content-type'] ??= 'application/octet-stream';
    body = o.body;
  }
  const res = await request(`${url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const buf = Buffer.from(await res.body.arrayBuffer());
  let json: any = null;
  if (String(res.headers['content-type'] ?? '').includes('json')) json = JSON.parse(buf.toString('utf8'));
  return { status: res.statusCode, headers: res.headers, body: buf, json };
}

export async function createSession(url: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<any> {
  const r = await call(url, 'POST', '/v1/sessions', { json: body, headers });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json;
}

export async function sessionExec(url: string, id: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<any> {
  const r = await call(url, 'POST', `/v1/sessions/${id}/execute`, { json: body, headers });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  expect(r.headers['x-session-expires-at']).toBe(r.json.session.expiresAt);
  return r.json;
}

export async function deleteSession(url: string, id: string, headers: Record<string, string> = {}): Promise<void> {
  const r = await call(url, 'DELETE', `/v1/sessions/${id}`, { headers });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

/** The entries of a ustar archive: name, type ('0' file, '5' dir, '2' link), link target, content. */
export function readTar(tar: Buffer): { name: string; type: string; link: string; content: Buffer }[] {
  const out: { name: string; type: string; link: string; content: Buffer }[] = [];
  let off = 0;
  let longName: string | null = null;
  let longLink: string | null = null;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, n: number) => h.subarray(a, a + n).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(str(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(h[156]!);
    const data = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L' || type === 'K') {
      const v = data.toString('utf8').replace(/\0.*$/s, '');
      if (type === 'L') longName = v;
      else longLink = v;
      continue;
    }
    out.push({ name: longName ?? str(0, 100), type, link: longLink ?? str(157, 100), content: Buffer.from(data) });
    longName = longLink = null;
  }
  return out;
}
