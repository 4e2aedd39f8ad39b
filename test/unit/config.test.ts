import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, configTable, loadConfig, privateContainerdSocket, SCRIPT_VARIABLES } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const cores = Math.max(1, os.availableParallelism());

describe('loadConfig: defaults', () => {
  it('an empty environment gives the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      logLevel: 'info',
      runtime: 'auto',
      hypervisor: 'qemu',
      kataShim: 'auto',
      kataConfigPath: '',
      kernelPath: '',
      imagePath: '',
      image: 'toolruntime-sandbox:latest',
      containerdAddress: 'auto',
      namespace: 'kata-exec',
      stateDir: '/var/lib/kata-exec',
      runDir: '/run/kata-exec',
      ctrPath: 'ctr',
      runscPath: 'runsc',
      concurrency: cores,
      queueDepth: 64,
      bodyLimitBytes: 1048576,
      shutdownGraceMs: 30000,
    });
    expect(c.limits).toEqual({
      timeoutMs: { default: 10000, max: 60000 },
      memoryMb: { default: 256, max: 2048 },
      cpus: { default: 1, max: cores },
      pids: { default: 128, max: 1024 },
      diskMb: { default: 64, max: 1024 },
      outputBytes: { default: 1048576, max: 16777216 },
      openFiles: { default: 256, max: 4096 },
    });
  });

  it('pools the standard profile at its defaults and at a compiled language\'s', () => {
    expect(loadConfig({}).pool).toEqual({
      size: 2,
      classes: [
        { profile: 'standard', kind: 'default' },
        { profile: 'standard', kind: 'compiled' },
      ],
      maxAgeMs: 300000,
    });
    expect(loadConfig({ KATA_EXEC_POOL_PROFILES: 'hardened:compiled, standard,standard' }).pool.classes).toEqual([
      { profile: 'hardened', kind: 'compiled' },
      { profile: 'standard', kind: 'default' },
    ]);
    expect(problems({ KATA_EXEC_POOL_PROFILES: 'standard:big' })).toEqual([expect.stringMatching(/^KATA_EXEC_POOL_PROFILES has "standard:big".*:compiled/)]);
  });

  it('ignores variables that are not KATA_EXEC_*', () => {
    expect(loadConfig({ PATH: '/bin', KATA_EXECUTOR: 'x', HOME: '/root' }).port).toBe(8080);
  });

  it('ignores the scripts\' own variables (KATA_EXEC_SKIP_APT=1 bash scripts/quickstart.sh starts the server)', () => {
    expect(loadConfig({ KATA_EXEC_SKIP_APT: '1', KATA_EXEC_SHIM_PATH: '/opt/kata/bin', KATA_EXEC_PORT: '9000' }).port).toBe(9000);
    expect(() => loadConfig({ KATA_EXEC_SKIP_APTT: '1' })).toThrow(/KATA_EXEC_SKIP_APTT is not a setting/);
  });

  it('an empty value means the default', () => {
    expect(loadConfig({ KATA_EXEC_PORT: '', KATA_EXEC_RUNTIME: '' })).toMatchObject({ port: 8080, runtime: 'auto' });
  });

  it('does not read process.env when given an env', () => {
    const before = process.env.KATA_EXEC_PORT;
    process.env.KATA_EXEC_PORT = '1234';
    try {
      expect(loadConfig({}).port).toBe(8080);
    } finally {
      if (before === undefined) delete process.env.KATA_EXEC_PORT;
      else process.env.KATA_EXEC_PORT = before;
    }
  });
});

describe('loadConfig: conversion', () => {
  it('numbers are converted from strings', () => {
    const c = loadConfig({
      KATA_EXEC_PORT: '9090',
      KATA_EXEC_CONCURRENCY: '3',
      KATA_EXEC_CPUS_DEFAULT: '0.5',
      KATA_EXEC_CPUS_MAX: '1.5',
      KATA_EXEC_MEMORY_MB_MAX: '4096',
      KATA_EXEC_QUEUE_DEPTH: '0',
    });
    expect(c.port).toBe(9090);
    expect(c.concurrency).toBe(3);
    expect(c.limits.cpus).toEqual({ default: 0.5, max: 1.5 });
    expect(c.limits.memoryMb.max).toBe(4096);
    expect(c.queueDepth).toBe(0);
  });

  it('choices are taken as given', () => {
    const c = loadConfig({ KATA_EXEC_RUNTIME: 'gvisor', KATA_EXEC_HYPERVISOR: 'cloud-hypervisor', KATA_EXEC_KATA_SHIM: 'generic', KATA_EXEC_LOG_LEVEL: 'debug' });
    expect(c).toMatchObject({ runtime: 'gvisor', hypervisor: 'cloud-hypervisor', kataShim: 'generic', logLevel: 'debug' });
  });

  it('strings are taken as given', () => {
    const c = loadConfig({ KATA_EXEC_KATA_CONFIG_PATH: '/etc/kata/c.toml', KATA_EXEC_KERNEL_PATH: '/k', KATA_EXEC_RUN_DIR: '/tmp/kx' });
    expect(c).toMatchObject({ kataConfigPath: '/etc/kata/c.toml', kernelPath: '/k', runDir: '/tmp/kx' });
    expect(privateContainerdSocket(c.runDir)).toBe('/tmp/kx/containerd/containerd.sock');
  });
});

describe('loadConfig: errors', () => {
  it('bad values and unknown names are all listed, each naming its variable', () => {
    const p = problems({ KATA_EXEC_PORT: 'abc', KATA_EXEC_RUNTIME: 'docker', KATA_EXEC_TYPO: '1', KATA_EXEC_PIDS_MAX: '-5' });
    expect(p).toHaveLength(4);
    expect(p.find((x) => x.startsWith('KATA_EXEC_PORT'))).toMatch(/0 to 65535/);
    expect(p.find((x) => x.startsWith('KATA_EXEC_RUNTIME'))).toMatch(/auto, kata, gvisor, runc/);
    expect(p.find((x) => x.startsWith('KATA_EXEC_TYPO'))).toMatch(/not a setting/);
    expect(p.find((x) => x.startsWith('KATA_EXEC_PIDS_MAX'))).toMatch(/1 to 1000000/);
  });

  it('the ConfigError message holds every problem', () => {
    try {
      loadConfig({ KATA_EXEC_PORT: '70000', KATA_EXEC_NOPE: 'x' });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toContain('KATA_EXEC_PORT');
      expect((e as Error).message).toContain('KATA_EXEC_NOPE');
    }
  });

  it.each([
    ['KATA_EXEC_PORT', '70000'],
    ['KATA_EXEC_PORT', '-1'],
    ['KATA_EXEC_CONCURRENCY', '0'],
    ['KATA_EXEC_CPUS_MAX', 'lots'],
    ['KATA_EXEC_LOG_LEVEL', 'verbose'],
    ['KATA_EXEC_HYPERVISOR', 'kvm'],
    ['KATA_EXEC_BODY_LIMIT_BYTES', '10'],
  ])('%s=%s is refused', (name, value) => {
    const p = problems({ [name]: value });
    expect(p).toHaveLength(1);
    expect(p[0]).toContain(name);
  });

  it('a DEFAULT above its MAX is refused, naming both', () => {
    const p = problems({ KATA_EXEC_MEMORY_MB_DEFAULT: '4096' });
    expect(p).toEqual([expect.stringMatching(/KATA_EXEC_MEMORY_MB_DEFAULT \(4096\) is above KATA_EXEC_MEMORY_MB_MAX \(2048\)/)]);
    expect(problems({ KATA_EXEC_TIMEOUT_MS_MAX: '5000' })[0]).toContain('KATA_EXEC_TIMEOUT_MS_DEFAULT');
  });

  it('DEFAULT equal to MAX is fine', () => {
    expect(loadConfig({ KATA_EXEC_PIDS_DEFAULT: '50', KATA_EXEC_PIDS_MAX: '50' }).limits.pids).toEqual({ default: 50, max: 50 });
  });

  it('relative directories, a bad namespace and a bad image are refused', () => {
    const p = problems({ KATA_EXEC_STATE_DIR: 'state', KATA_EXEC_RUN_DIR: 'run', KATA_EXEC_NAMESPACE: 'bad ns', KATA_EXEC_IMAGE: 'bad image' });
    expect(p.map((x) => x.split(' ')[0]).sort()).toEqual(['KATA_EXEC_IMAGE', 'KATA_EXEC_NAMESPACE', 'KATA_EXEC_RUN_DIR', 'KATA_EXEC_STATE_DIR']);
  });

  // TypeBox's Value.Convert would truncate "2.7" to 2 and turn "false" into 0 (a random
  // port): numeric settings are checked as text first.
  it.each([
    ['KATA_EXEC_CONCURRENCY', '2.7'],
    ['KATA_EXEC_PORT', 'false'],
    ['KATA_EXEC_QUEUE_DEPTH', 'true'],
  ])('%s=%s is refused, not silently converted', (name, value) => {
    expect(problems({ [name]: value })[0]).toContain(name);
  });
});

describe('configTable', () => {
  /** The settings' table: everything before the scripts' variables. */
  const settingsRows = () => configTable().split('\n\n')[0]!.split('\n');

  it('has a header and one row per setting, with its default', () => {
    const lines = settingsRows();
    const names = Object.keys(ConfigSchema.properties);
    expect(lines).toHaveLength(names.length + 2);
    expect(lines[0]).toBe('| Variable | Default | Meaning |');
    for (const n of names) expect(lines.filter((l) => l.startsWith(`| \`${n}\` |`))).toHaveLength(1);
    expect(lines.some((l) => l.startsWith('| `KATA_EXEC_PORT` | `8080` |'))).toBe(true);
    expect(lines.find((l) => l.startsWith('| `KATA_EXEC_CONCURRENCY`'))).toContain('`cores`');
    expect(lines.find((l) => l.startsWith('| `KATA_EXEC_KATA_CONFIG_PATH`'))).toContain('`(empty)`');
  });

  it('every setting has a description', () => {
    for (const line of settingsRows().slice(2)) expect(line).toMatch(/\| \S.* \|$/);
  });

  it('then lists every variable of the scripts, none of them a setting', () => {
    const table = configTable().split('\n\n').slice(1).join('\n');
    for (const name of Object.keys(SCRIPT_VARIABLES)) {
      expect(table).toContain(`| \`${name}\` |`);
      expect(name in ConfigSchema.properties).toBe(false);
    }
  });
});
