/**
 * The languages of the full image, for real, on every test runtime: each of the nine
 * languages of the full image runs hello world through /v1/execute, compiled (by the
 * compile phase, with the compile command and env of src/execution/languages.ts) and run in
 * the sandbox as nobody on the read-only root (/code and /tmp writable), reading its stdin.
 * Then GET /v1/runtimes lists all twelve with the versions the image measured, and a
 * service on the default image answers 422 LANGUAGE_NOT_AVAILABLE for c.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { findLanguage, LANGUAGES } from '../../src/execution/languages.js';
import type { RuntimesInfo } from '../../src/schemas/runtimes.js';
import { execute, post, type RealService, startRealService, testContainerd, testRuntimes, useService } from '../helpers/real-service.js';

/** hello world per language, with something only the language itself computes. */
const HELLO: Record<string, { source: string; stdout: string }> = {
  c: { source: '#include <stdio.h>\n#include <math.h>\nint main(void) { printf("hello from c %d\\n", (int)sqrt(49.0)); return 0; }\n', stdout: 'hello from c 7\n' },
  cpp: {
    source: '#include <bits/stdc++.h>\nint main() { std::vector<int> v{3, 1, 2}; std::sort(v.begin(), v.end()); std::cout << "hello from cpp " << v[0] << v[1] << v[2] << "\\n"; }\n',
    stdout: 'hello from cpp 123\n',
  },
  go: { source: 'package main\n\nimport (\n\t"fmt"\n\t"strings"\n)\n\nfunc main() { fmt.Println("hello from go", strings.Repeat("go", 2)) }\n', stdout: 'hello from go gogo\n' },
  rust: { source: 'fn main() { let v: Vec<i32> = (1..=3).collect(); println!("hello from rust {:?}", v); }\n', stdout: 'hello from rust [1, 2, 3]\n' },
  java: { source: 'public class Main { public static void main(String[] args) { System.out.println("hello from java " + (6 * 7)); } }\n', stdout: 'hello from java 42\n' },
  typescript: {
    // Node's globals (require, process) type-check through the image's node-globals.d.ts.
    source: "const input: string = require('fs').readFileSync(0, 'utf8');\nconst n: number = input.trim().split(/\\s+/).map(Number).reduce((a, b) => a + b, 0);\nconsole.log(`hello from typescript ${n}`);\n",
    stdout: 'hello from typescript 42\n',
  },
  ruby: { source: 'puts "hello from ruby #{[6, 7].reduce(:*)}"\n', stdout: 'hello from ruby 42\n' },
  php: { source: '<?php echo "hello from php " . (6 * 7) . "\\n";\n', stdout: 'hello from php 42\n' },
  perl: { source: 'use strict; my @a = (6, 7); print "hello from perl " . ($a[0] * $a[1]) . "\\n";\n', stdout: 'hello from perl 42\n' },
};

const COMPILED_AND_NEW = LANGUAGES.filter((l) => l.image === 'full').map((l) => l.name);

describe.each(testRuntimes())('the full image on %s', (runtime) => {
  const svc = useService(runtime);

  it('holds the nine languages of the full image', () => {
    expect(COMPILED_AND_NEW).toEqual(['c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
  });

  it.each(COMPILED_AND_NEW)('%s: hello world, compiled and run as nobody on the read-only root', async (name) => {
    const l = findLanguage(name)!;
    const r = await execute(svc(), {
      language: name,
      code: HELLO[name]!.source,
      stdin: '20 22',
      // gVisor compiles slower than runc, and the host is shared.
      timeoutMs: 60_000,
      ...(l.compile ? { compile: { timeoutMs: 50_000 } } : {}),
    });
    if (l.compile) expect(r.compile, `${name}: ${r.compile?.stderr}`).toMatchObject({ status: 'ok', exitCode: 0 });
    else expect(r.compile).toBeUndefined();
    expect(r.stderr, `${name}: ${r.stderr}`).toBe('');
    expect(r).toMatchObject({ status: 'ok', exitCode: 0, stdout: HELLO[name]!.stdout });
    expect(r.limitsEnforced.readOnlyRootfs).toBe(true);
  });

  it('GET /v1/runtimes lists all twelve with the measured versions, available', async () => {
    const res = await request(`${svc().url}/v1/runtimes`);
    expect(res.statusCode).toBe(200);
    const info = (await res.body.json()) as RuntimesInfo;
    expect(info.languages.map((l) => l.name)).toEqual(LANGUAGES.map((l) => l.name));
    for (const l of info.languages) {
      expect(l.version, l.name).toMatch(/^\d+\.\d+(\.\d+)?$/);
      expect(l.available, l.name).toBe(true);
      expect(l.run.length, l.name).toBeGreaterThan(0);
      expect(l.compile === null, l.name).toBe(!findLanguage(l.name)!.compile);
    }
    // The versions are the binaries' own: two of them asked again in the sandbox.
    const byName = Object.fromEntries(info.languages.map((l) => [l.name, l.version]));
    const v = await execute(svc(), { language: 'bash', code: 'gcc -dumpfullversion; rustc --version | cut -d" " -f2' });
    expect(v.stdout).toBe(`${byName.c}\n${byName.rust}\n`);
  });
});

describe('a service on the default image', () => {
  const c = testContainerd();
  const ctr = (...args: string[]) => execFileSync('ctr', ['--address', c.address, '-n', c.namespace, ...args], { encoding: 'utf8' });
  const image = 'toolruntime-sandbox:latest';
  let svc: RealService;

  beforeAll(async () => {
    if (!existsSync(c.defaultArchive)) throw new Error(`${c.defaultArchive} is missing: run scripts/setup.sh test (it builds the default image too)`);
    ctr('images', 'import', '--base-name', image.split(':')[0]!, c.defaultArchive);
    svc = await startRealService(testRuntimes()[0]!, { KATA_EXEC_IMAGE: image });
  });
  afterAll(async () => {
    await svc?.close();
    ctr('images', 'remove', image);
  });

  it('runs python with numpy, and answers 422 LANGUAGE_NOT_AVAILABLE for c, naming the full image', async () => {
    const py = await execute(svc, { language: 'python', code: 'import numpy as np; print(int(np.arange(7).sum()))' });
    expect(py).toMatchObject({ status: 'ok', stdout: '21\n' });

    const r = await post(svc, { language: 'c', code: 'int main(void) { return 0; }' });
    expect(r.status).toBe(422);
    expect(r.json.code).toBe('LANGUAGE_NOT_AVAILABLE');
    expect(r.json.detail).toContain('toolruntime-sandbox-full:latest');

    const info = (await (await request(`${svc.url}/v1/runtimes`)).body.json()) as RuntimesInfo;
    const available = info.languages.filter((l) => l.available).map((l) => l.name);
    expect(available).toEqual(['python', 'javascript', 'bash']);
    expect(info.languages.find((l) => l.name === 'c')).toMatchObject({ available: false, version: null, image: 'toolruntime-sandbox-full:latest' });
  });
});
