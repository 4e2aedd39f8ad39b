/**
 * ImageResolver for the ctr runner: checks the image is in containerd and keeps one
 * read-only mount of its rootfs per image digest under RUN_DIR/rootfs. Every sandbox of
 * that image uses it as its (read-only) root, so no snapshot is made per execution.
 */
import { mkdir, readdir, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { CtrClient } from '../ctr/client.js';
import { umount } from '../ctr/host.js';
import { isMountPoint } from '../ctr/mounts.js';
import { asServiceError, CtrError, ImageNotFoundError } from '../errors.js';
import type { ImageResolver, ResolvedImage } from '../sandbox/types.js';

const RECHECK_MS = 10_000;

export class RootfsImageResolver implements ImageResolver {
  private cache = new Map<string, { at: number; image: ResolvedImage }>();
  private pending = new Map<string, Promise<ResolvedImage>>();

  constructor(
    private readonly ctr: CtrClient,
    private readonly rootfsDir: string,
  ) {}

  async resolve(image: string): Promise<ResolvedImage> {
    const hit = this.cache.get(image);
    if (hit && Date.now() - hit.at < RECHECK_MS) return hit.image;
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
    if (!(await isMountPoint(rootfsPath))) {
      await mkdir(rootfsPath, { recursive: true, mode: 0o755 });
      try {
        await this.ctr.mountImage(image, rootfsPath);
      } catch (err) {
        if (!(err instanceof CtrError && err.kind === 'already_exists')) throw asServiceError(err);
        // A lease from an earlier process exists but nothing is mounted: start over.
        await this.ctr.unmountImage(rootfsPath).catch(() => undefined);
        await this.ctr.mountImage(image, rootfsPath).catch((e: unknown) => {
          throw asServiceError(e);
        });
      }
    }
    const resolved: ResolvedImage = { ref: image, digest: row.digest, rootfsPath, labels: {} };
    this.cache.set(image, { at: Date.now(), image: resolved });
    await this.unmountStale(new Set([...this.cache.values()].map((c) => c.image.rootfsPath)));
    return resolved;
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
    if (await isMountPoint(dir)) {
      // The lease of `ctr images mount` may have expired (24 h): then umount directly.
      await this.ctr.unmountImage(dir).catch(() => umount(dir).catch(() => undefined));
    }
    await rmdir(dir).catch(() => undefined);
  }

  /** Unmounts every rootfs (shutdown). */
  async releaseAll(): Promise<void> {
    this.cache.clear();
    await this.unmountStale(new Set());
  }
}
