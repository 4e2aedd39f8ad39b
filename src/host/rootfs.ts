/**
 * ImageResolver for the ctr runner: checks the image is in containerd and keeps one
 * read-only mount of its rootfs per image digest under RUN_DIR/rootfs. Every sandbox of
 * that image uses it as its (read-only) root, so no snapshot is made per execution.
 */
import { mkdir, readdir, readFile, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { CtrClient } from '../ctr/client.js';
import { umount } from '../ctr/host.js';
import { isMountPoint, parseMountPoints } from '../ctr/mounts.js';
import type { ContainerdMountNamespace } from './containerd-ns.js';
import { asServiceError, CtrError, ImageIncompatibleError, ImageNotFoundError } from '../errors.js';
import { LAUNCHER_HELLO, LAUNCHER_PATH } from '../sandbox/launch-protocol.js';
import type { ImageResolver, ResolvedImage } from '../sandbox/types.js';

const RECHECK_MS = 10_000;

/**
 * The versions build-image.sh measured and wrote into the image
 * (/etc/kata-exec/languages.json); null when the image has no such file (built by hand or
 * by an older build-image.sh that did not write it).
 */
export async function readImageLanguages(rootfsPath: string): Promise<Record<string, string> | null> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path.join(rootfsPath, 'etc/kata-exec/languages.json'), 'utf8'));
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  return Object.fromEntries(Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

export class RootfsImageResolver implements ImageResolver {
  private cache = new Map<string, { at: number; nsPid: number | null; image: ResolvedImage }>();
  private pending = new Map<string, Promise<ResolvedImage>>();
  /** Digests whose launcher was found and speaks our protocol. */
  private withLauncher = new Set<string>();
  /** Per image reference: the languages its last resolved rootfs holds, with their versions. */
  private languages = new Map<string, Record<string, string>>();

  /**
   * ns: containerd's mount namespace. The shared rootfs is mounted there, where a Kata 1.x
   * shim bind-mounts it for the VM (host/containerd-ns.ts); null: ours.
   */
  constructor(
    private readonly ctr: CtrClient,
    private readonly rootfsDir: string,
    private readonly ns: ContainerdMountNamespace | null = null,
  ) {}

  private async nsPid(): Promise<number | null> {
    return this.ns ? this.ns.pid() : null;
  }

  private async mounted(dir: string): Promise<boolean> {
    return this.ns ? parseMountPoints(await this.ns.mountinfo()).includes(dir) : isMountPoint(dir);
  }

  /**
   * The languages (and versions) of the image as last resolved (refreshed with the mount,
   * every few seconds of use); null before it was resolved or when it does not say.
   */
  languagesOf(image: string): Record<string, string> | null {
    return this.languages.get(image) ?? null;
  }

  /** A path of the rootfs as this process can read it (through containerd's namespace). */
  async view(p: string): Promise<string> {
    return this.ns ? this.ns.view(p) : p;
  }

  async resolve(image: string): Promise<ResolvedImage> {
    const hit = this.cache.get(image);
    // A restarted containerd of its own mount namespace has none of the old one's mounts.
    if (hit && Date.now() - hit.at < RECHECK_MS && hit.nsPid === (await this.nsPid())) return hit.image;
    let p = this.pending.get(image);
    if (!p) {
      p = this.load(image).finally(() => this.pending.delete(image));
      this.pending.set(image, p);
    }
    return p;
  }

  private async load(image: string): Promise<ResolvedImage> {
    let row;
    try {
      row = await this.ctr.findImage(image);
    } catch (err) {
      throw asServiceError(err);
    }
    if (!row) {
      this.cache.delete(image);
      throw new ImageNotFoundError(image);
    }
    const rootfsPath = path.join(this.rootfsDir, row.digest.replace(/^sha256:/, '').slice(0, 24));
    if (!(await this.mounted(rootfsPath))) {
      await mkdir(rootfsPath, { recursive: true, mode: 0o755 });
      const nsPid = await this.nsPid();
      try {
        await this.ctr.mountImage(image, rootfsPath, nsPid);
      } catch (err) {
        if (!(err instanceof CtrError && err.kind === 'already_exists')) throw asServiceError(err);
        // A lease from an earlier process exists but nothing is mounted: start over.
        await this.ctr.unmountImage(rootfsPath, nsPid).catch(() => undefined);
        await this.ctr.mountImage(image, rootfsPath, nsPid).catch((e: unknown) => {
          throw asServiceError(e);
        });
      }
    }
    await this.checkLauncher(image, row.digest, rootfsPath);
    const languages = await readImageLanguages(await this.view(rootfsPath));
    if (languages) this.languages.set(image, languages);
    else this.languages.delete(image);
    const resolved: ResolvedImage = { ref: image, digest: row.digest, rootfsPath, labels: languages ?? {} };
    this.cache.set(image, { at: Date.now(), nsPid: await this.nsPid(), image: resolved });
    await this.unmountStale(new Set([...this.cache.values()].map((c) => c.image.rootfsPath)));
    return resolved;
  }

  /**
   * Every sandbox's init is the launcher: an image without it (or with one of another
   * protocol, whose ready frame says so) would fail every execution. Read from the mounted
   * rootfs, never run on the host; once per digest.
   */
  private async checkLauncher(image: string, digest: string, rootfsPath: string): Promise<void> {
    if (this.withLauncher.has(digest)) return;
    let bin: Buffer;
    try {
      bin = await readFile(await this.view(path.join(rootfsPath, LAUNCHER_PATH)));
    } catch {
      throw new ImageIncompatibleError(image, `has no kata-exec launcher at ${LAUNCHER_PATH}`);
    }
    // The ready frame's words are a string constant of the launcher's binary.
    if (!bin.includes(Buffer.from(`${LAUNCHER_HELLO}\0`))) {
      throw new ImageIncompatibleError(image, `has a launcher at ${LAUNCHER_PATH} that does not speak "${LAUNCHER_HELLO}"`);
    }
    this.withLauncher.add(digest);
  }

  /** Unmounts rootfs mounts of digests no longer in use (an image that was rebuilt). */
  private async unmountStale(keep: Set<string>): Promise<void> {
    let entries: string[] = [];
    try {
      entries = await readdir(this.rootfsDir);
    } catch {
      return;
    }
    for (const e of entries) {
      const dir = path.join(this.rootfsDir, e);
      if (keep.has(dir)) continue;
      await this.release(dir);
    }
  }

  private async release(dir: string): Promise<void> {
    if (await this.mounted(dir)) {
      const nsPid = await this.nsPid();
      // The lease of `ctr images mount` may have expired (24 h): then umount directly.
      await this.ctr.unmountImage(dir, nsPid).catch(() => umount(dir, nsPid).catch(() => undefined));
    }
    await rmdir(dir).catch(() => undefined);
  }

  /** Unmounts every rootfs (shutdown). */
  async releaseAll(): Promise<void> {
    this.cache.clear();
    await this.unmountStale(new Set());
  }
}
