/**
 * The benchmark's Kata lines, through the Kata kit (../shared/kata, installed at
 * KATA_EXEC_KATA_KIT or /opt/kata-kit): a private containerd set up for Kata
 * (scripts/lib/private-containerd.ts), then, one at a time and a few times each (every VM
 * is emulated here, ~10 s each), reporting medians:
 *   raw ctr run      `ctr run --rm --runtime io.containerd.kata.v2 IMAGE ID python3 -c 'print(6*7)'`
 *   service cold     POST /v1/execute {"language":"python","code":"print(6*7)"}, no warm pool
 *   service warm     the same with a warm pool of 1, waiting for it to refill between runs
 * Timing figures only: nothing here is a test.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { findKataKit, PrivateContainerd } from './lib/private-containerd.js';

const repo = path.resolve(import.meta.dirname, '..');
const IMAGE = 'toolruntime-sandbox:latest';

export interface KataLine {
  line: string;
  runs: number;
  failures: number;
  medianMs: number | null;
  samplesMs: number[];
  failureSamples: string[];
}

export interface KataFigures {
  kit: string;
  accel: string;
  lines: KataLine[];
}

const median = (xs: number[]): number | null => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function startService(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'src/server.ts')], {
    cwd: repo,
    // Only the settings given here: the service refuses a KATA_EXEC_* it does not know (the
    // bench's own KATA_EXEC_KATA_KIT among them).
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KATA_EXEC_'))), KATA_EXEC_PORT: '0', KATA_EXEC_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the service did not start')), 120_000);
    const onLine = (l: string) => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(l);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    const said: string[] = [];
    const keep = (l: string) => said.push(l) > 5 && said.shift();
    createInterface({ input: child.stdout! }).on('line', (l) => (keep(l), onLine(l)));
    createInterface({ input: child.stderr! }).on('line', keep);
    child.once('exit', (code) => reject(new Error(`the service exited (${code}): ${said.join('\n').slice(-1500)}`)));
  });
  return {
    child,
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function execute(url: string, body: unknown): Promise<{ ok: boolean; ms: number; detail: string }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as { stdout?: string; code?: string; status?: string };
  const ms = performance.now() - t0;
  const ok = res.status === 200 && json.stdout === '42\n';
  return { ok, ms, detail: ok ? '' : `${res.status} ${json.code ?? json.status ?? ''}` };
}

async function poolReady(url: string): Promise<boolean> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return /^kata_exec_pool_ready\S* [1-9]/m.test(text);
}

function lineOf(line: string, samples: { ok: boolean; ms: number; detail: string }[]): KataLine {
  const ok = samples.filter((s) => s.ok).map((s) => Math.round(s.ms));
  return {
    line,
    runs: samples.length,
    failures: samples.length - ok.length,
    medianMs: median(ok),
    samplesMs: ok,
    failureSamples: samples.filter((s) => !s.ok).map((s) => s.detail).slice(0, 3),
  };
}

/** Null when no kit is installed. */
export async function kataBench(n: number, log: (m: string) => void): Promise<KataFigures | null> {
  const kit = findKataKit();
  if (!kit || n <= 0) return null;
  const root = mkdtempSync('/tmp/kx-bench-kata-');
  const ctd = new PrivateContainerd({ root, kataKit: kit });
  const namespace = 'kata-exec-bench';
  const ctr = (...args: string[]) => execFileSync('ctr', ['--address', ctd.address, '-n', namespace, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: KataLine[] = [];
  const services: { stop(): Promise<void> }[] = [];
  try {
    ctd.start();
    ctr('images', 'import', '--base-name', 'toolruntime-sandbox', path.join(process.env.KATA_EXEC_STATE_DIR ?? '/var/lib/kata-exec', 'images', 'sandbox.oci.tar'));

    const raw: { ok: boolean; ms: number; detail: string }[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      try {
        const out = ctr('run', '--rm', '--runtime', 'io.containerd.kata.v2', IMAGE, `kx-bench-raw-${i}`, 'python3', '-c', 'print(6*7)');
        raw.push({ ok: out === '42\n', ms: performance.now() - t0, detail: out.slice(0, 80) });
      } catch (err) {
        raw.push({ ok: false, ms: performance.now() - t0, detail: String((err as { stderr?: string }).stderr ?? err).trim().split('\n').pop() ?? '' });
      }
      log(`kata raw ctr run ${i + 1}/${n}: ${raw.at(-1)!.ok ? `${Math.round(raw.at(-1)!.ms)} ms` : `failed: ${raw.at(-1)!.detail}`}`);
    }
    lines.push(lineOf('raw ctr run IMAGE (python -c)', raw));

    const base = {
      PATH: `${kit}/bin:${process.env.PATH}`,
      KATA_EXEC_CONTAINERD_ADDRESS: ctd.address,
      KATA_EXEC_STATE_DIR: path.join(root, 'state'),
      KATA_EXEC_RUNTIME: 'kata',
      KATA_EXEC_CONCURRENCY: '1',
      KATA_EXEC_TIMEOUT_MS_DEFAULT: '120000',
      KATA_EXEC_TIMEOUT_MS_MAX: '120000',
    };
    // Kata's shim takes a namespace only when each dash-separated part starts with a letter.
    for (const [name, pool, ns] of [['service cold (pool 0)', 0, `${namespace}-cold`], ['service warm (pool 1)', 1, `${namespace}-warm`]] as const) {
      const svc = await startService({ ...base, KATA_EXEC_RUN_DIR: path.join(root, `svc-${pool}`), KATA_EXEC_NAMESPACE: ns, KATA_EXEC_POOL_SIZE: String(pool) });
      services.push(svc);
      ctr('-n', ns, 'images', 'import', '--base-name', 'toolruntime-sandbox', path.join(process.env.KATA_EXEC_STATE_DIR ?? '/var/lib/kata-exec', 'images', 'sandbox.oci.tar'));
      const samples: { ok: boolean; ms: number; detail: string }[] = [];
      for (let i = 0; i < n; i++) {
        if (pool > 0) {
          const until = Date.now() + 180_000;
          while (!(await poolReady(svc.url)) && Date.now() < until) await sleep(250);
        }
        samples.push(await execute(svc.url, { language: 'python', code: 'print(6*7)' }));
        log(`kata ${name} ${i + 1}/${n}: ${samples.at(-1)!.ok ? `${Math.round(samples.at(-1)!.ms)} ms` : `failed: ${samples.at(-1)!.detail}`}`);
      }
      lines.push(lineOf(name, samples));
      await svc.stop();
    }
  } finally {
    for (const s of services) await s.stop().catch(() => undefined);
    ctd.unmountAll(root);
    try {
      ctd.stop();
    } catch {
      // already stopped
    }
    ctd.unmountAll(root);
    rmSync(root, { recursive: true, force: true });
  }
  return { kit, accel: process.env.KATA_ACCEL ?? 'tcg', lines };
}

export function kataTable(k: KataFigures): string {
  const rows = k.lines.map((l) => `  ${l.line.padEnd(32)} median ${l.medianMs === null ? 'n/a' : `${(l.medianMs / 1000).toFixed(2)} s`} of ${l.runs - l.failures} ok run(s), ${l.failures} failed${l.failureSamples.length ? ` (${l.failureSamples.join('; ')})` : ''}`);
  return [`Kata (kit at ${k.kit}, QEMU ${k.accel.toUpperCase()}; python print(6*7), one at a time):`, ...rows].join('\n');
}
