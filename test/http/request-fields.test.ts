/**
 * The request fields beyond `code`: files (utf8/base64, nested paths, the entry point),
 * stdin, args and env, as they reach the SandboxSpec; and the 400s that name the field.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SANDBOX_ENV } from '../../src/execution/executor.js';
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js';
import { execute, expectProblem, type Problem } from '../helpers/problem.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});
beforeEach(() => {
  t.runner.calls.length = 0;
});

const b64 = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s).toString('base64');

async function ok(payload: Record<string, unknown>) {
  const res = await execute(t.app, payload);
  expect(res.statusCode, res.body).toBe(200);
  expect(t.runner.calls).toHaveLength(1);
  return t.runner.lastSpec;
}

async function invalid(payload: Record<string, unknown>, pointer: string): Promise<Problem> {
  const res = await execute(t.app, payload);
  const p = expectProblem(res, 400, 'VALIDATION_FAILED');
  expect(p.errors?.map((e) => e.path), JSON.stringify(p)).toContain(pointer);
  expect(p.detail).toContain(pointer);
  expect(t.runner.calls).toHaveLength(0);
  return p;
}

function fileMap(spec: { files: { path: string; content: Buffer }[] }): Record<string, Buffer> {
  return Object.fromEntries(spec.files.map((f) => [f.path, f.content]));
}

describe('files', () => {
  it('decodes base64 byte-exact and keeps utf8 as is; the first file is the entry point', async () => {
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const spec = await ok({
      language: 'python',
      files: [
        { path: 'app.py', content: 'print("héllo ✓")' },
        { path: 'data/blob.bin', content: b64(binary), encoding: 'base64' },
        { path: 'data/text.txt', content: b64('line\n'), encoding: 'base64' },
        { path: 'plain.txt', content: 'x', encoding: 'utf8' },
      ],
    });
    const files = fileMap(spec);
    expect(Object.keys(files).sort()).toEqual(['app.py', 'data/blob.bin', 'data/text.txt', 'plain.txt']);
    expect(files['app.py']!.toString('utf8')).toBe('print("héllo ✓")');
    expect(files['data/blob.bin']!.equals(binary)).toBe(true);
    expect(files['data/text.txt']!.toString()).toBe('line\n');
    expect(spec.command).toEqual(['python3', '/code/app.py']);
  });

  it('accepts base64 with line breaks (MIME style)', async () => {
    const data = Buffer.alloc(200, 7);
    const wrapped = b64(data).replace(/.{76}/g, '$&\n');
    const spec = await ok({ language: 'bash', files: [{ path: 'run.sh', content: 'true' }, { path: 'd.bin', content: wrapped, encoding: 'base64' }] });
    expect(fileMap(spec)['d.bin']!.equals(data)).toBe(true);
  });

  it('keeps nested paths up to 8 levels', async () => {
    const deep = 'a/b/c/d/e/f/g/h.py';
    const spec = await ok({
      language: 'python',
      files: [
        { path: 'main.py', content: 'import pkg.mod' },
        { path: 'pkg/__init__.py', content: '' },
        { path: 'pkg/mod.py', content: 'X = 1' },
        { path: deep, content: '' },
      ],
    });
    expect(Object.keys(fileMap(spec)).sort()).toEqual([deep, 'main.py', 'pkg/__init__.py', 'pkg/mod.py']);
    expect(spec.files.every((f) => !f.path.startsWith('/'))).toBe(true);
  });

  it('runs the entrypoint it is told, with its language command', async () => {
    const spec = await ok({
      language: 'javascript',
      files: [
        { path: 'lib/util.js', content: 'module.exports = 1' },
        { path: 'src/index.js', content: 'require("../lib/util.js")' },
      ],
      entrypoint: 'src/index.js',
    });
    expect(spec.command).toEqual(['node', '/code/src/index.js']);
    expect(spec.workingDir).toBe('/code');
  });

  it('with code and files, code is main.<ext> and the default entry point; entrypoint may pick a file instead', async () => {
    const spec = await ok({ language: 'python', code: 'import helper', files: [{ path: 'helper.py', content: 'pass' }] });
    expect(Object.keys(fileMap(spec)).sort()).toEqual(['helper.py', 'main.py']);
    expect(fileMap(spec)['main.py']!.toString()).toBe('import helper');
    expect(spec.command).toEqual(['python3', '/code/main.py']);

    t.runner.calls.length = 0;
    const picked = await ok({ language: 'bash', code: 'echo main', files: [{ path: 'other.sh', content: 'echo other' }], entrypoint: 'other.sh' });
    expect(picked.command).toEqual(['bash', '/code/other.sh']);
    t.runner.calls.length = 0;
    const main = await ok({ language: 'bash', code: 'echo main', files: [{ path: 'other.sh', content: 'echo other' }], entrypoint: 'main.sh' });
    expect(main.command).toEqual(['bash', '/code/main.sh']);
  });

  it('refuses an entrypoint that is not one of the files: 400 naming /entrypoint', async () => {
    const p = await invalid({ language: 'python', files: [{ path: 'a.py', content: '' }], entrypoint: 'b.py' }, '/entrypoint');
    expect(p.detail).toContain('b.py');
    // A directory is not a file either.
    await invalid({ language: 'python', files: [{ path: 'pkg/a.py', content: '' }], entrypoint: 'pkg' }, '/entrypoint');
    await invalid({ language: 'python', files: [{ path: 'a.py', content: '' }], entrypoint: '../a.py' }, '/entrypoint');
  });

  it.each([
    ['../x', 'a parent reference'],
    ['a/../../x', 'a parent reference inside'],
    ['/abs', 'an absolute path'],
    ['a//b', 'an empty part'],
    ['./a', 'a "." part'],
    ['a/', 'a trailing slash'],
    ['x y', 'a space'],
    ['a\\b', 'a backslash'],
    ['ü.py', 'a non-ASCII letter'],
    ['a/b/c/d/e/f/g/h/i.py', 'more than 8 levels'],
  ])('refuses the path %j (%s) with 400 naming /files/1/path', async (bad) => {
    const p = await invalid({ language: 'python', files: [{ path: 'main.py', content: '' }, { path: bad, content: '' }] }, '/files/1/path');
    // Only that file is at fault.
    expect(p.errors!.every((e) => e.path.startsWith('/files/1'))).toBe(true);
  });

  it.each([
    ['the same path twice', [{ path: 'a.py', content: '1' }, { path: 'a.py', content: '2' }], undefined, '/files/1/path'],
    ['a file and a directory of the same name', [{ path: 'lib', content: '' }, { path: 'lib/x.py', content: '' }], undefined, '/files/1/path'],
    ['a directory, then a file of its name', [{ path: 'lib/x.py', content: '' }, { path: 'lib', content: '' }], undefined, '/files/1/path'],
    ['a file named like the code file', [{ path: 'main.py', content: '' }], 'print(1)', '/files/0/path'],
  ])('refuses %s with 400 naming the later file', async (_what, files, code, pointer) => {
    const p = await invalid({ language: 'python', files, ...(code !== undefined ? { code } : {}) }, pointer);
    expect(p.detail).toMatch(/clash/);
  });

  it('refuses content that is not base64, naming /files/N/content', async () => {
    await invalid({ language: 'python', files: [{ path: 'main.py', content: '' }, { path: 'd.bin', content: 'not base64!', encoding: 'base64' }] }, '/files/1/content');
    await invalid({ language: 'python', files: [{ path: 'd.bin', content: 'abc', encoding: 'base64' }] }, '/files/0/content');
  });

  it('refuses an unknown encoding and an unknown file field', async () => {
    await invalid({ language: 'python', files: [{ path: 'a.py', content: '', encoding: 'hex' }] }, '/files/0/encoding');
    await invalid({ language: 'python', files: [{ path: 'a.py', content: '', mode: 493 }] }, '/files/0/mode');
  });

  it('requires code or files: 400 naming /code', async () => {
    await invalid({ language: 'python' }, '/code');
    await invalid({ language: 'python', stdin: 'x', args: ['a'] }, '/code');
  });

  it('refuses an empty files list and more than 64 files', async () => {
    await invalid({ language: 'python', files: [] }, '/files');
    const many = Array.from({ length: 65 }, (_, i) => ({ path: `f${i}.py`, content: '' }));
    await invalid({ language: 'python', files: many }, '/files');
  });
});

describe('env', () => {
  it.each(['PATH', 'HOME', 'TMPDIR', 'LANG'])('refuses the sandbox\'s own %s with 400 naming /env/%s', async (name) => {
    const p = await invalid({ language: 'python', code: '1', env: { OK: '1', [name]: '/evil' } }, `/env/${name}`);
    expect(p.errors!.map((e) => e.path)).toEqual([`/env/${name}`]);
  });

  it.each(['1BAD', 'A-B', 'A B', ''])('refuses the variable name %j', async (name) => {
    const res = await execute(t.app, { language: 'python', code: '1', env: { [name]: 'x' } });
    const p = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(p.errors!.some((e) => e.path.startsWith('/env'))).toBe(true);
    expect(t.runner.calls).toHaveLength(0);
  });

  it('refuses a value with NUL and one longer than 4096', async () => {
    await invalid({ language: 'python', code: '1', env: { A: 'x\u0000y' } }, '/env/A');
    await invalid({ language: 'python', code: '1', env: { A: 'x'.repeat(4097) } }, '/env/A');
  });

  it('hands valid variables to the program only (not to the sandbox\'s own environment) and changes nothing else', async () => {
    process.env.KATA_EXEC_TEST_SECRET = 'service-secret';
    try {
      const spec = await ok({ language: 'python', code: '1', env: { FOO: 'bar', EMPTY: '', WITH_EQ: 'a=b c', _u: 'ü' } });
      expect(spec.env).toEqual(SANDBOX_ENV);
      expect(spec.programEnv).toEqual(['FOO=bar', 'EMPTY=', 'WITH_EQ=a=b c', '_u=ü']);
      expect([...spec.env, ...spec.programEnv].join('\n')).not.toContain('service-secret');
    } finally {
      delete process.env.KATA_EXEC_TEST_SECRET;
    }
  });

  it('without env, the sandbox gets exactly its own variables (none of the service\'s)', async () => {
    const spec = await ok({ language: 'python', code: '1' });
    expect(spec.env).toEqual(SANDBOX_ENV);
  });

  it('refuses more than 64 variables', async () => {
    const env = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`V${i}`, 'x']));
    await invalid({ language: 'python', code: '1', env }, '/env');
  });
});

describe('args and stdin', () => {
  it('appends args to the command, unchanged (no shell)', async () => {
    const args = ['a', 'b c', '--flag=$HOME', '', '"quoted"', ';rm -rf /'];
    const spec = await ok({ language: 'python', code: '1', args });
    expect(spec.command).toEqual(['python3', '/code/main.py', ...args]);
  });

  it('appends args after the chosen entrypoint', async () => {
    const spec = await ok({ language: 'bash', files: [{ path: 'x/run.sh', content: '' }], entrypoint: 'x/run.sh', args: ['1', '2'] });
    expect(spec.command).toEqual(['bash', '/code/x/run.sh', '1', '2']);
  });

  it('refuses an arg with NUL (400 /args/N) and more than 64 args', async () => {
    await invalid({ language: 'python', code: '1', args: ['ok', 'x\u0000y'] }, '/args/1');
    await invalid({ language: 'python', code: '1', args: Array.from({ length: 65 }, () => 'a') }, '/args');
  });

  it('stdin becomes spec.stdin as UTF-8 bytes; none or empty is end of file at once', async () => {
    const spec = await ok({ language: 'python', code: '1', stdin: 'line 1\nlïne 2\n' });
    expect(spec.stdin?.toString('utf8')).toBe('line 1\nlïne 2\n');
    t.runner.calls.length = 0;
    expect((await ok({ language: 'python', code: '1' })).stdin).toBeNull();
    t.runner.calls.length = 0;
    expect((await ok({ language: 'python', code: '1', stdin: '' })).stdin).toBeNull();
  });
});
