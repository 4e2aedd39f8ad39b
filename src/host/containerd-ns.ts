/**
 * containerd's mount namespace. A Kata 1.x shim bind-mounts a sandbox's root (and the
 * writable overlay over it) in its own mount namespace, which is containerd's: a mount the
 * service made in another namespace is an empty directory there, and the VM sees an empty
 * root. Where containerd runs in a namespace of its own (the Kata kit's containerd does;
 * a usual systemd host does not), the service makes and removes those mounts in it, with
 * `nsenter -t <containerd pid> -m`.
 *
 * containerd's pid comes from its socket: the listening unix socket bound at the address
 * (/proc/net/unix gives its inode) and the process holding that inode among its file
 * descriptors. Found again whenever the process found before is gone (containerd restarted).
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

/** Inodes of listening unix sockets bound at `address`, from /proc/net/unix's text. */
export function listeningSocketInodes(procNetUnix: string, address: string): string[] {
  const inodes: string[] = [];
  for (const line of procNetUnix.split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f.slice(7).join(' ') !== address) continue;
    // Flags 00010000: __SO_ACCEPTCON, a listening socket.
    if ((parseInt(f[3]!, 16) & 0x10000) === 0) continue;
    inodes.push(f[6]!);
  }
  return inodes;
}

async function pidHoldingSocket(inodes: Set<string>): Promise<number | null> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p));
  for (const pid of pids) {
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    // containerd itself; its shims and clients connect to the socket, they do not listen on it.
    if (!comm.startsWith('containerd') || comm.startsWith('containerd-shim')) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) return Number(pid);
    }
  }
  return null;
}

/** containerd's pid from its socket, else from the pid file beside it (scripts/containerd.sh writes one). */
export async function findContainerdPid(address: string): Promise<number | null> {
  const unix = await readFile('/proc/net/unix', 'utf8').catch(() => '');
  const inodes = new Set(listeningSocketInodes(unix, path.resolve(address)));
  if (inodes.size > 0) {
    const pid = await pidHoldingSocket(inodes);
    if (pid !== null) return pid;
  }
  const fromFile = Number((await readFile(path.join(path.dirname(address), 'containerd.pid'), 'utf8').catch(() => '')).trim());
  return fromFile > 0 && (await readlink(`/proc/${fromFile}/ns/mnt`).catch(() => null)) ? fromFile : null;
}

/**
 * Where the service must make the mounts a sandbox's spec names. `pid()` is containerd's
 * pid when its mount namespace is not ours, null when it is (or when containerd cannot be
 * found: then the service's own namespace is the best guess, as on a usual host).
 */
export class ContainerdMountNamespace {
  private cached: { pid: number; ns: string } | null = null;

  constructor(private readonly address: string) {}

  async pid(): Promise<number | null> {
    if (this.cached) {
      const ns = await readlink(`/proc/${this.cached.pid}/ns/mnt`).catch(() => null);
      if (ns === this.cached.ns) return this.foreign(this.cached.ns) ? this.cached.pid : null;
      this.cached = null;
    }
    const pid = await findContainerdPid(this.address);
    if (pid === null) return null;
    const ns = await readlink(`/proc/${pid}/ns/mnt`).catch(() => null);
    if (!ns) return null;
    this.cached = { pid, ns };
    return this.foreign(ns) ? pid : null;
  }

  private selfNs: string | null = null;

  private foreign(ns: string): boolean {
    return ns !== this.selfNs;
  }

  async init(): Promise<this> {
    this.selfNs = await readlink('/proc/self/ns/mnt');
    await this.pid();
    return this;
  }

  /** The mountinfo of containerd's namespace (ours when shared). */
  async mountinfo(): Promise<string> {
    const pid = await this.pid();
    return readFile(pid === null ? '/proc/self/mountinfo' : `/proc/${pid}/mountinfo`, 'utf8');
  }

  /** A path as this process can read it through containerd's namespace (/proc/PID/root/...). */
  async view(p: string): Promise<string> {
    const pid = await this.pid();
    return pid === null ? p : path.join(`/proc/${pid}/root`, p);
  }
}
