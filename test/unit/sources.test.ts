import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidRequestError } from '../../src/errors.js';
import { MAX_FILE_DEPTH, RESERVED_ENV, buildEnv, buildSources, checkArgs, pathProblem } from '../../src/execution/sources.js';

function fieldsOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as InvalidRequestError).code).toBe(ErrorCode.ValidationFailed);
    return (err as InvalidRequestError).fields ?? [];
  }
  throw new Error('expected an InvalidRequestError');
}

describe('pathProblem', () => {
  it.each(['main.py', 'a/b.py', 'pkg/__init__.py', '.hidden', 'a-b_c.d/e', 'a/b/c/d/e/f/g/h'])('accepts %j', (p) => {
    expect(pathProblem(p)).toBeNull();
  });

  it.each([
    ['/abs', /relative/],
    ['../x', /\.\./],
    ['a/../b', /\.\./],
    ['a/..', /\.\./],
    ['./a', /"\."/],
    ['a//b', /""/],
    ['a/', /""/],
    ['x y', /letters/],
    ['a\\b', /letters/],
    ['é.py', /letters/],
    ['a\u0000b', /letters/],
    ['a/b/c/d/e/f/g/h/i', new RegExp(`at most ${MAX_FILE_DEPTH}`)],
  ])('refuses %j', (p, msg) => {
    expect(pathProblem(p)).toMatch(msg);
  });
});

describe('buildSources', () => {
  it('code alone is the default file and the entry point', () => {
    const s = buildSources({ code: 'print(1)' }, 'main.py');
    expect(s.entry).toBe('main.py');
    expect(s.files).toEqual([{ path: 'main.py', content: Buffer.from('print(1)') }]);
  });

  it('an empty code is still a program', () => {
    expect(buildSources({ code: '' }, 'main.sh').files).toEqual([{ path: 'main.sh', content: Buffer.alloc(0) }]);
  });

  it('files alone: the first is the entry point; base64 and utf8 are decoded', () => {
    const bin = Buffer.from([0, 255, 10, 13, 128]);
    const s = buildSources(
      { files: [{ path: 'a/run.py', content: 'ü' }, { path: 'b.bin', content: bin.toString('base64'), encoding: 'base64' }, { path: 'c.txt', content: 'c', encoding: 'utf8' }] },
      'main.py',
    );
    expect(s.entry).toBe('a/run.py');
    expect(s.files.map((f) => f.path)).toEqual(['a/run.py', 'b.bin', 'c.txt']);
    expect(s.files[0]!.content.toString('utf8')).toBe('ü');
    expect(s.files[1]!.content.equals(bin)).toBe(true);
  });

  it('code with files: code comes first and is the entry point unless entrypoint says otherwise', () => {
    expect(buildSources({ code: 'x', files: [{ path: 'lib.py', content: '' }] }, 'main.py').entry).toBe('main.py');
    expect(buildSources({ code: 'x', files: [{ path: 'lib.py', content: '' }], entrypoint: 'lib.py' }, 'main.py').entry).toBe('lib.py');
    expect(buildSources({ files: [{ path: 'a.py', content: '' }, { path: 'b.py', content: '' }], entrypoint: 'b.py' }, 'main.py').entry).toBe('b.py');
  });

  it('refuses a request with neither code nor files, naming /code', () => {
    expect(fieldsOf(() => buildSources({}, 'main.py'))).toEqual([{ path: '/code', message: expect.any(String) }]);
    expect(fieldsOf(() => buildSources({ files: [] }, 'main.py'))).toEqual([{ path: '/code', message: expect.any(String) }]);
  });

  it('names every bad file by its JSON pointer, all at once', () => {
    const fields = fieldsOf(() =>
      buildSources(
        {
          code: 'x',
          files: [
            { path: 'ok.py', content: '' },
            { path: '../up', content: '' },
            { path: 'main.py', content: '' },
            { path: 'ok.py/inner', content: '' },
            { path: 'z.bin', content: '%%%', encoding: 'base64' },
          ],
          entrypoint: 'nope.py',
        },
        'main.py',
      ),
    );
    expect(fields.map((f) => f.path)).toEqual(['/files/1/path', '/files/2/path', '/files/3/path', '/files/4/content', '/entrypoint']);
    expect(fields[1]!.message).toMatch(/clashes/);
    expect(fields[2]!.message).toMatch(/clashes/);
    expect(fields[3]!.message).toMatch(/base64/);
  });

  it.each(['abc', 'ab=c', 'a===', '@@@@', 'YQ=\n=x'])('refuses the base64 %j', (content) => {
    expect(fieldsOf(() => buildSources({ files: [{ path: 'f', content, encoding: 'base64' }] }, 'main.py')).map((f) => f.path)).toEqual(['/files/0/content']);
  });

  it('accepts padded, empty and wrapped base64', () => {
    const s = buildSources(
      {
        files: [
          { path: 'a', content: 'YQ==', encoding: 'base64' },
          { path: 'b', content: '', encoding: 'base64' },
          { path: 'c', content: 'YWJj\nZGVm\r\n', encoding: 'base64' },
        ],
      },
      'main.py',
    );
    expect(s.files.map((f) => f.content.toString())).toEqual(['a', '', 'abcdef']);
  });

  it('refuses an entrypoint that names a directory', () => {
    expect(fieldsOf(() => buildSources({ files: [{ path: 'd/a.py', content: '' }], entrypoint: 'd' }, 'main.py')).map((f) => f.path)).toEqual(['/entrypoint']);
  });
});

describe('buildEnv', () => {
  const base = ['PATH=/usr/bin', 'LANG=C.UTF-8', 'HOME=/tmp', 'TMPDIR=/tmp', 'X=base'];

  it('returns a copy of the base without extra variables', () => {
    const env = buildEnv(base, undefined);
    expect(env).toEqual(base);
    expect(env).not.toBe(base);
    expect(buildEnv(base, {})).toEqual(base);
  });

  it('adds the request\'s variables after the base, replacing a non-reserved base one', () => {
    expect(buildEnv(base, { A: '1', X: 'mine', B: 'x=y' })).toEqual(['PATH=/usr/bin', 'LANG=C.UTF-8', 'HOME=/tmp', 'TMPDIR=/tmp', 'A=1', 'X=mine', 'B=x=y']);
  });

  it.each(RESERVED_ENV.map((n) => [n]))('refuses the reserved %s', (name) => {
    expect(fieldsOf(() => buildEnv(base, { OK: '1', [name]: 'x' }))).toEqual([{ path: `/env/${name}`, message: expect.stringMatching(/sandbox/) }]);
  });

  it.each(['1A', 'A-B', '', 'A B', 'x'.repeat(129)])('refuses the name %j', (name) => {
    expect(fieldsOf(() => buildEnv(base, { [name]: 'x' })).map((f) => f.path)).toEqual([`/env/${name}`]);
  });

  it('refuses a value with NUL', () => {
    expect(fieldsOf(() => buildEnv(base, { A: 'a\u0000' })).map((f) => f.path)).toEqual(['/env/A']);
  });
});

describe('checkArgs', () => {
  it('copies the args, or none', () => {
    const args = ['a', ' b ', ''];
    expect(checkArgs(args)).toEqual(args);
    expect(checkArgs(args)).not.toBe(args);
    expect(checkArgs(undefined)).toEqual([]);
  });

  it('refuses NUL, naming the arg', () => {
    expect(fieldsOf(() => checkArgs(['ok', 'ok', 'b\u0000ad']))).toEqual([{ path: '/args/2', message: expect.any(String) }]);
  });
});
