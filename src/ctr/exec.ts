/**
 * The one place that starts processes (execa). Everything else builds argv arrays and
 * parses output; this module only runs them, never through a shell.
 */
import { execa } from 'execa';
import type { Readable, Writable } from 'node:stream';

export interface CommandResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** The process could not be started at all (ENOENT...). */
  spawnError: string | null;
  timedOut: boolean;
}

/** Runs a short command to completion, output bounded, never throwing for a non-zero exit. */
export async function runCommand(
  file: string,
  args: readonly string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<CommandResult> {
  const r = await execa(file, args, {
    reject: false,
    stdin: 'ignore',
    timeout: opts.timeoutMs ?? 30_000,
    maxBuffer: 4 * 1024 * 1024,
    env: opts.env,
    extendEnv: true,
    stripFinalNewline: false,
  });
  const spawnError = r.exitCode === undefined && !r.timedOut ? (r.originalMessage ?? r.shortMessage ?? 'spawn failed') : null;
  return {
    exitCode: r.exitCode ?? null,
    stdout: typeof r.stdout === 'string' ? r.stdout : '',
    stderr: typeof r.stderr === 'string' ? r.stderr : '',
    spawnError,
    timedOut: r.timedOut,
  };
}

export interface SpawnedProcess {
  stdout: Readable;
  stderr: Readable;
  stdin: Writable | null;
  /** Resolves when the process ended, whatever the reason. */
  done: Promise<{ exitCode: number | null; signal: string | null; spawnError: string | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * How a monitor that lives as long as the service is started: `setpriv --pdeathsig KILL`
 * makes the kernel SIGKILL it when the service dies, however it dies (kill -9, a heap
 * crash), which no exit handler of ours could do.
 */
export function tiedToParentArgv(file: string, args: readonly string[]): [string, string[]] {
  return ['setpriv', ['--pdeathsig', 'KILL', '--', file, ...args]];
}

/**
 * Starts a long-running process whose output is read as streams, never buffered here.
 * `tiedToParent`: it ends when this process ends (see tiedToParentArgv).
 */
export function spawnStreaming(
  file: string,
  args: readonly string[],
  opts: { stdin?: 'ignore' | 'pipe'; tiedToParent?: boolean } = {},
): SpawnedProcess {
  [file, args] = opts.tiedToParent ? tiedToParentArgv(file, args) : [file, args];
  const child = execa(file, args, {
    reject: false,
    buffer: false,
    stdin: opts.stdin ?? 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    cleanup: true,
    // The child is a client (ctr): ending it never ends a sandbox, so it may die quietly.
    forceKillAfterDelay: 2000,
  });
  const done = child.then((r) => ({
    exitCode: r.exitCode ?? null,
    signal: r.signal ?? null,
    spawnError: r.exitCode === undefined && !r.signal ? (r.originalMessage ?? 'spawn failed') : null,
  }));
  if (!child.stdout || !child.stderr) throw new Error('spawnStreaming: pipes missing');
  return {
    stdout: child.stdout,
    stderr: child.stderr,
    stdin: child.stdin ?? null,
    done,
    kill: (signal: NodeJS.Signals = 'SIGKILL') => {
      child.kill(signal);
    },
  };
}
