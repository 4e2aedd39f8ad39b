/**
 * outputFiles on /v1/execute against the real containerd, on every test runtime: the files
 * a program leaves under /code come back base64, byte for byte, bounded in count and bytes,
 * never through a link, after a compile and tests too; the sandbox is deleted afterwards
 * like any other.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { post, testRuntimes, useService } from '../helpers/real-service.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(testRuntimes())('outputFiles on %s', (runtime) => {
  const svc = useService(runtime, { KATA_EXEC_OUTPUT_FILES_MAX_COUNT: '3', KATA_EXEC_OUTPUT_FILES_MAX_BYTES: String(300_000) });

  it('brings back the files that match, byte for byte, and never what a link points at', async () => {
    const code = [
      'import os',
      'os.makedirs("out/deep", exist_ok=True)',
      'open("out/chart.png", "wb").write(bytes(range(256)) * 100)',
      'open("out/deep/data.csv", "w").write("a,b\\n1,2\\n")',
      'os.symlink("/etc/passwd", "out/passwd.csv")',
      'os.symlink("/etc", "out/etc")',
      'print("done")',
    ].join('\n');
    const r = await post(svc(), { language: 'python', code, outputFiles: ['out/*.png', '**/*.csv', 'out/etc/*'] });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ status: 'ok', stdout: 'done\n', outputFilesTruncated: false });
    expect(r.json.outputFiles.map((f: any) => [f.path, f.size])).toEqual([
      ['out/chart.png', 25600],
      ['out/deep/data.csv', 8],
    ]);
    expect(sha(Buffer.from(r.json.outputFiles[0].contentBase64, 'base64'))).toBe(sha(Buffer.from(Array.from({ length: 100 }, () => [...Array(256).keys()]).flat())));
    expect(Buffer.from(r.json.outputFiles[1].contentBase64, 'base64').toString()).toBe('a,b\n1,2\n');
  });

  it('stops at the count and byte bounds and says so', async () => {
    const code = 'for i in range(5):\n    open(f"f{i}.txt", "w").write(str(i))\nopen("big.bin", "wb").write(b"x" * 400000)';
    const r = await post(svc(), { language: 'python', code, outputFiles: ['*.txt', 'big.bin'] });
    expect(r.json.outputFiles.map((f: any) => f.path)).toEqual(['f0.txt', 'f1.txt', 'f2.txt']);
    expect(r.json.outputFilesTruncated).toBe(true);
    const none = await post(svc(), { language: 'bash', code: 'true', outputFiles: ['nothing/*'] });
    expect(none.json).toMatchObject({ status: 'ok', outputFiles: [], outputFilesTruncated: false });
  });

  it('with a compiled language and tests: the files as the last test left them, after the compile', async () => {
    // Each run appends its input to log.txt: the tests share /code, one after the other.
    const code = '#include <stdio.h>\nint main(void){char w[32]={0};if(scanf("%31s",w)!=1)return 2;FILE*f=fopen("log.txt","a");if(!f)return 3;fprintf(f,"%s\\n",w);fclose(f);puts(w);return 0;}\n';
    const r = await post(svc(), { language: 'c', code, outputFiles: ['*.txt', 'main'], tests: [{ stdin: 'first', expectedOutput: 'first' }, { stdin: 'second', expectedOutput: 'second' }] });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.compile, r.json.compile?.stderr).toMatchObject({ status: 'ok' });
    expect(r.json.tests.map((t: any) => t.verdict)).toEqual(['accepted', 'accepted']);
    expect(r.json.outputFiles.map((f: any) => f.path)).toEqual(['log.txt', 'main']);
    expect(Buffer.from(r.json.outputFiles[0].contentBase64, 'base64').toString()).toBe('first\nsecond\n');
    // The binary the compile built, an ELF file.
    expect(Buffer.from(r.json.outputFiles[1].contentBase64, 'base64').subarray(0, 4).toString('latin1')).toBe('\x7fELF');

    // Without tests: the one run's files.
    const one = await post(svc(), { language: 'c', code, stdin: 'only', outputFiles: ['*.txt'] });
    expect(one.json).toMatchObject({ status: 'ok', stdout: 'only\n', outputFilesTruncated: false });
    expect(Buffer.from(one.json.outputFiles[0].contentBase64, 'base64').toString()).toBe('only\n');
  });

  it('refuses a pattern out of /code before any sandbox', async () => {
    for (const g of ['../x', '/etc/*', 'a/../b']) {
      const r = await post(svc(), { language: 'bash', code: 'true', outputFiles: [g] });
      expect([g, r.status, r.json.code]).toEqual([g, 400, 'VALIDATION_FAILED']);
    }
  });
});
