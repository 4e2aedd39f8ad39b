import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { RuntimeTarget } from '../../src/ctr/argv.js';
import { findLanguage, IMAGE_OF_VARIANT, isAvailable, LANGUAGES } from '../../src/execution/languages.js';
import { HostCatalog } from '../../src/host/catalog.js';
import { readImageLanguages } from '../../src/host/rootfs.js';

const RUNC: RuntimeTarget = { kind: 'runc', ociRuntime: 'io.containerd.runc.v2', runcBinary: null, runtimeConfigPath: null, snapshotter: null, hypervisor: null, launch: 'config' };
const detect = async () => ({ shims: [], runscPath: null, runcPath: '/usr/sbin/runc', hardwareVirtualization: false });

describe('languages.ts: one entry per language', () => {
  it('names and aliases are unique and lower-case, and each entry file has its own extension', () => {
    const words = LANGUAGES.flatMap((l) => [l.name, ...l.aliases]);
    expect(new Set(words).size).toBe(words.length);
    for (const w of words) expect(w).toBe(w.toLowerCase());
    const exts = LANGUAGES.map((l) => path.extname(l.file));
    expect(new Set(exts).size).toBe(exts.length);
    expect(LANGUAGES.map((l) => l.name)).toEqual(['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl']);
  });

  it('a compiled language writes its program next to the source, under /code, and runs that', () => {
    for (const l of LANGUAGES.filter((x) => x.compile)) {
      const argv = l.compile!.command(`/code/${l.file}`, ['-DX=1']);
      expect(argv, l.name).toContain(`/code/${l.file}`);
      expect(argv, l.name).toContain('-DX=1');
      // Extra arguments come before the source file, so an option that takes the file works.
      expect(argv.indexOf('-DX=1'), l.name).toBeLessThan(argv.indexOf(`/code/${l.file}`));
      for (const a of argv.filter((x) => x.startsWith('/'))) expect(a, `${l.name}: ${a}`).toMatch(/^\/code(\/|$)|^\/usr\/local\/lib\/kata-exec\//);
    }
    expect(findLanguage('c')!.command('/code/main.c')).toEqual(['/code/main']);
    expect(findLanguage('rust')!.command('/code/src/prog.rs')).toEqual(['/code/src/prog']);
    expect(findLanguage('java')!.command('/code/Main.java')).toEqual(expect.arrayContaining(['-cp', '/code', 'Main']));
    // The JVM's heap follows the run's memory limit (it does not see the sandbox's on runc).
    expect(findLanguage('java')!.command('/code/Main.java', { memoryMb: 256 })).toEqual(expect.arrayContaining(['-Xms16m', '-Xmx256m']));
    expect(findLanguage('java')!.command('/code/Main.java').some((a) => a.startsWith('-Xmx'))).toBe(false);
    expect(findLanguage('c')!.command('/code/main.c', { memoryMb: 256 })).toEqual(['/code/main']);
    expect(findLanguage('typescript')!.command('/code/main.ts')).toEqual(['node', '/code/main.js']);
    // Go's caches go to /tmp: the root is read-only.
    expect(findLanguage('go')!.compile!.env).toEqual(expect.arrayContaining(['GOCACHE=/tmp/go-cache']));
  });

  it('every language has its line in scripts/build-image.sh, in the variant its entry names', () => {
    const script = readFileSync(path.join(import.meta.dirname, '../../scripts/build-image.sh'), 'utf8');
    const block = (name: string) => script.slice(script.indexOf(`${name}=(`), script.indexOf('\n)', script.indexOf(`${name}=(`)));
    const lines = { default: block('default_langs'), full: block('full_langs') };
    for (const l of LANGUAGES) expect(lines[l.image], l.name).toMatch(new RegExp(`^  '${l.name}\\|`, 'm'));
    expect((script.match(/^ {2}'[a-z]+\|/gm) ?? []).length).toBe(LANGUAGES.length);
  });

  it('isAvailable: what the image lists; everything while the image is not read yet', () => {
    const c = findLanguage('c')!;
    expect(isAvailable(c, { python: '3.11.2' })).toBe(false);
    expect(isAvailable(c, { c: '12.2.0' })).toBe(true);
    expect(isAvailable(c, null)).toBe(true);
  });
});

describe('GET /v1/runtimes languages (HostCatalog)', () => {
  let dir: string | null = null;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = null;
  });

  async function rootfsWith(json: string | null): Promise<string> {
    dir = await mkdtemp(path.join(tmpdir(), 'kx-langs-'));
    if (json !== null) {
      await mkdir(path.join(dir, 'etc/kata-exec'), { recursive: true });
      await writeFile(path.join(dir, 'etc/kata-exec/languages.json'), json);
    }
    return dir;
  }

  it('lists all twelve with the versions, commands and image; available from the image', async () => {
    const root = await rootfsWith('{"python":"3.11.2","javascript":"18.20.4","bash":"5.2.15"}');
    const info = await new HostCatalog(loadConfig({}), RUNC, async () => root, detect).describe();
    expect(info.languages).toHaveLength(12);
    expect(info.languages.find((l) => l.name === 'python')).toEqual({
      name: 'python',
      aliases: ['py', 'python3'],
      version: '3.11.2',
      entryFile: 'main.py',
      compile: null,
      run: ['python3', '/code/main.py'],
      image: IMAGE_OF_VARIANT.default,
      available: true,
    });
    const go = info.languages.find((l) => l.name === 'go')!;
    expect(go).toMatchObject({ version: null, image: IMAGE_OF_VARIANT.full, available: false, run: ['/code/main'] });
    expect(go.compile!.command).toEqual(['go', 'build', '-o', '/code/main', '/code/main.go']);
    expect(go.compile!.env).toContain('GOCACHE=/tmp/go-cache');
  });

  it('an image without languages.json: versions unknown, nothing refused', async () => {
    const root = await rootfsWith(null);
    expect(await readImageLanguages(root)).toBeNull();
    const info = await new HostCatalog(loadConfig({}), RUNC, async () => root, detect).describe();
    expect(info.languages.every((l) => l.available && l.version === null)).toBe(true);
  });

  it('a languages.json that is not an object of strings gives what it can', async () => {
    expect(await readImageLanguages(await rootfsWith('[1,2]'))).toBeNull();
    await rm(dir!, { recursive: true });
    expect(await readImageLanguages(await rootfsWith('{"c":"12.2.0","x":3}'))).toEqual({ c: '12.2.0' });
  });
});
