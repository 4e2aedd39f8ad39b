/**
 * Hostile output: floods on stdout and stderr, output just past the cap, and bytes that
 * are not text. The service keeps the head and the tail, stops a flood early, and always
 * answers valid JSON.
 */
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { execute, testRuntimes } from '../helpers/real-service.js';
import { hostile, useService } from './hostile-case.js';

const CAP = 65536;
/** What the service adds around a dropped middle: "\n…[N bytes dropped]…\n". */
const MARKER_ROOM = 64;

describe.each(testRuntimes())('hostile output on %s', (runtime) => {
  const svc = useService(runtime);

  it.each([
    ['1 GB of NULs on stdout', 'head -c 1000000000 /dev/zero', 'stdout'],
    ['endless `yes` on stdout', 'yes', 'stdout'],
    ['1 GB of NULs on stderr', 'head -c 1000000000 /dev/zero >&2', 'stderr'],
  ] as const)('stops %s early and keeps a bounded head and tail', async (_name, code, stream) => {
    const r = await hostile(svc(), () =>
      execute(svc(), { language: 'bash', code, timeoutMs: 60_000, limits: { outputBytes: CAP } }),
    );
    expect(r.status).toBe('output_limit');
    expect(r.truncated).toBe(true);
    expect(r.droppedBytes[stream]).toBeGreaterThan(0);
    // Stopped soon after 4x the cap + 1 MiB, not after the program wrote its gigabyte.
    expect(r.droppedBytes[stream]).toBeLessThan(100_000_000);
    expect(r[stream].length).toBeLessThanOrEqual(CAP + MARKER_ROOM);
    expect(r[stream]).toMatch(/…\[\d+ bytes dropped\]…/);
    expect(r.durationMs).toBeLessThan(30_000);
  }, 120_000);

  it('keeps the head and the tail of 100 KB under a 64 KiB cap, and the program ends normally', async () => {
    const size = 100_000;
    // node, not python -u: see the next case for what python -u does on gVisor.
    const code = `process.stdout.write("HEAD" + "x".repeat(${size} - 8) + "TAIL")`;
    const r = await hostile(svc(), () => execute(svc(), { language: 'javascript', code, limits: { outputBytes: CAP } }));
    expect(r.status).toBe('ok');
    expect(r.truncated).toBe(true);
    expect(r.droppedBytes).toEqual({ stdout: size - CAP, stderr: 0 });
    expect(r.stdout.startsWith('HEAD')).toBe(true);
    expect(r.stdout.endsWith('TAIL')).toBe(true);
    expect(r.stdout).toContain(`…[${size - CAP} bytes dropped]…`);
    expect(r.stdout.length).toBeLessThanOrEqual(CAP + MARKER_ROOM);
  }, 120_000);

  // On gVisor a write(2) of 100 KB to the stdout pipe may return 65536; CPython's
  // unbuffered text layer (python3 -u) then drops the rest. The service runs python3
  // line-buffered instead (the image's sitecustomize), which retries short writes.
  it('receives a single 100 KB write from Python whole', async () => {
    const size = 100_000;
    const code = `import sys\nsys.stdout.write("HEAD" + "x" * (${size} - 8) + "TAIL")`;
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code }));
    expect(r.status).toBe('ok');
    expect(r.stdout.length).toBe(size);
    expect(r.stdout.endsWith('TAIL')).toBe(true);
  }, 120_000);

  it('keeps the head and the tail of 100 KB from Python under a 64 KiB cap', async () => {
    // Many small writes: not subject to the short-write loss above.
    const code = 'import sys\nsys.stdout.write("HEAD")\nfor _ in range(9999):\n    sys.stdout.write("x" * 10)\nsys.stdout.write("TAIL")';
    const size = 4 + 99_990 + 4;
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code, limits: { outputBytes: CAP } }));
    expect(r.status).toBe('ok');
    expect(r.truncated).toBe(true);
    expect(r.droppedBytes.stdout).toBe(size - CAP);
    expect(r.stdout.startsWith('HEADxxx')).toBe(true);
    expect(r.stdout.endsWith('xxxTAIL')).toBe(true);
  }, 120_000);

  it('answers valid JSON for invalid UTF-8, NUL bytes and ANSI escapes, on both streams', async () => {
    const bytes = 'b"bad:\\xff\\xfe\\xc3(|nul:\\x00\\x00|ansi:\\x1b[31mred\\x1b[0m|bell:\\x07|ok:\\xc3\\xa9\\n"';
    const code = `import sys\nsys.stdout.buffer.write(${bytes})\nsys.stderr.buffer.write(${bytes})`;
    const expected = 'bad:\uFFFD\uFFFD\uFFFD(|nul:\u0000\u0000|ansi:\u001b[31mred\u001b[0m|bell:\u0007|ok:é\n';
    const { text, json } = await hostile(svc(), async () => {
      const res = await request(`${svc().url}/v1/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ language: 'python', code }),
      });
      const text = await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(String(res.headers['content-type'])).toContain('application/json');
      return { text, json: JSON.parse(text) as { status: string; stdout: string; stderr: string } };
    });
    // Control characters travel escaped in the JSON text, never raw.
    expect(text).not.toMatch(/[\u0000-\u001f]/);
    expect(text).toContain('\\u0000');
    expect(text).toContain('\\u001b[31m');
    expect(json.status).toBe('ok');
    expect(json.stdout).toBe(expected);
    expect(json.stderr).toBe(expected);
  }, 120_000);

  it('answers valid JSON when the cut between head and tail falls inside a multi-byte character', async () => {
    // 3-byte characters: the head (32768 bytes) and the tail both start or end mid-character.
    const code = 'process.stdout.write("€".repeat(40000))';
    const r = await hostile(svc(), () => execute(svc(), { language: 'javascript', code, limits: { outputBytes: CAP } }));
    expect(r.status).toBe('ok');
    expect(r.truncated).toBe(true);
    expect(r.droppedBytes.stdout).toBe(120_000 - CAP);
    const [head, tail] = r.stdout.split(/\n…\[\d+ bytes dropped\]…\n/);
    expect(head).toMatch(/^€+\uFFFD*$/);
    expect(tail).toMatch(/^\uFFFD*€+$/);
  }, 120_000);

  it('answers a deeply nested __OUT__ value with its stdout intact, and without the value', async () => {
    // 200000 levels: parsing is fine, but answering it would recurse past the stack.
    const code = 'd = 200000\nprint("before")\nprint("__OUT__:" + "[" * d + "]" * d)';
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code }));
    expect(r.status).toBe('ok');
    expect(r.stdout.startsWith('before\n__OUT__:[[[')).toBe(true);
    expect(r.stdout.length).toBe('before\n__OUT__:'.length + 400_001);
    expect(r).not.toHaveProperty('value');
  }, 120_000);

  it('keeps an earlier __OUT__ value when a later one is too deep', async () => {
    const code = 'print(\'__OUT__:{"answer": 42}\')\nprint("__OUT__:" + "[" * 1000 + "]" * 1000)';
    const r = await hostile(svc(), () => execute(svc(), { language: 'python', code }));
    expect(r.status).toBe('ok');
    expect(r.value).toEqual({ answer: 42 });
  }, 120_000);
});

