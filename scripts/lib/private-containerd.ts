/**
 * A private containerd under a directory of its own, through scripts/containerd.sh (the one
 * place that knows how to start one): for the tests' global set-up, the lifecycle tests
 * and the benchmark. `kataKit` starts it the way the Kata kit needs (its own mount
 * namespace, / rshared, /run/vc and friends bound privately, Kata's syslog sink, the kit's
 * PATH and KATA_CONF_FILE): see scripts/containerd.sh.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseMountPoints } from '../../src/ctr/mounts.js';

const repo = path.resolve(import.meta.dirname, '../..');

/** Where the Kata kit is installed: KATA_EXEC_KATA_KIT, else /opt/kata-kit when it holds env.sh. */
export function findKataKit(env: NodeJS.ProcessEnv = process.env): string | null {
  const prefix = env.KATA_EXEC_KATA_KIT || '/opt/kata-kit';
  return existsSync(path.join(prefix, 'env.sh')) ? prefix : null;
}

/**
 * The mount points at `prefix` or under it, as these processes see them (their
 * /proc/PID/mountinfo: their mount namespaces; 'self' is ours), each once, deepest first
 * (the order to unmount them in). A process that is gone, or pid 0, is skipped.
 */
export function mountPointsSeenBy(pids: readonly (number | 'self')[], prefix: string): string[] {
  const found = new Set<string>();
  for (const pid of pids) {
    if (pid === 0) continue;
    let info = '';
    try {
      info = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
    } catch {
      continue;
    }
    for (const m of parseMountPoints(info)) if (m === prefix || m.startsWith(prefix + '/')) found.add(m);
  }
  return [...found].sort((a, b) => b.length - a.length);
}

export interface PrivateContainerdOptions {
  /** State and run directories go under it (root/state, root/run). */
  root: string;
  /** The kit's prefix: start containerd the way Kata 1.x needs. */
  kataKit?: string | null;
  /** Directories put first on containerd's PATH (KATA_EXEC_SHIM_PATH). */
  shimPath?: string;
}

export class PrivateContainerd {
  readonly address: string;
  readonly env: NodeJS.ProcessEnv;
  readonly pidFile: string;
  /** Kata's own log (the guest console, the runtime's errors) in kit mode. */
  readonly kataLog: string | null;

  constructor(readonly o: PrivateContainerdOptions) {
    const run = path.join(o.root, 'run');
    this.address = path.join(run, 'containerd', 'containerd.sock');
    this.pidFile = path.join(run, 'containerd', 'containerd.pid');
    this.kataLog = o.kataKit ? path.join(run, 'containerd', 'kata', 'kata.log') : null;
    this.env = {
      ...process.env,
      KATA_EXEC_STATE_DIR: path.join(o.root, 'state'),
      KATA_EXEC_RUN_DIR: run,
      KATA_EXEC_SHIM_PATH: o.shimPath ?? '',
      KATA_EXEC_KATA_KIT: o.kataKit ?? '',
    };
  }

  private script(cmd: 'start' | 'stop'): string {
    return execFileSync('bash', [path.join(repo, 'scripts/containerd.sh'), cmd], { env: this.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  start(): void {
    this.script('start');
  }

  stop(): void {
    this.script('stop');
  }

  /** containerd's pid, from the pid file containerd.sh writes. */
  pid(): number {
    return Number(readFileSync(this.pidFile, 'utf8').trim());
  }

  /**
   * Mount points under `prefix` in containerd's mount namespace (its own in kit mode, where
   * the service makes its mounts) and in ours.
   */
  mountsUnder(prefix: string): string[] {
    return mountPointsSeenBy(['self', this.safePid()], prefix);
  }

  /** Runs a command in containerd's mount namespace (ours when it shares it). */
  inNamespace(cmd: string, args: string[]): string {
    return execFileSync('nsenter', ['-t', String(this.pid()), '-m', cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Unmounts what is left under `prefix`, in containerd's namespace and in ours. */
  unmountAll(prefix: string): void {
    for (const m of this.mountsUnder(prefix)) {
      for (const args of [['nsenter', '-t', String(this.safePid()), '-m', 'umount', '--lazy', m], ['umount', '--lazy', m]]) {
        try {
          if (args[2] === '0') continue;
          execFileSync(args[0]!, args.slice(1), { stdio: 'ignore' });
        } catch {
          // not mounted there
        }
      }
    }
  }

  private safePid(): number {
    try {
      return this.pid();
    } catch {
      return 0;
    }
  }
}
