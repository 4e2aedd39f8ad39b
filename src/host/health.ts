/**
 * HealthChecker for readiness: containerd answers, the chosen runtime is installed, and
 * the image is present (its rootfs mounted). Results are cached briefly so that probes
 * do not each cost three ctr calls.
 */
import type { CtrClient } from '../ctr/client.js';
import type { RuntimeTarget } from '../ctr/argv.js';
import type { HostDetector } from './detect.js';
import { driverFor } from '../runtimes/registry.js';
import type { RootfsImageResolver } from './rootfs.js';
import type { HealthChecker, HealthReport } from '../sandbox/types.js';

const CACHE_MS = 2000;

export class CtrHealthChecker implements HealthChecker {
  private last: { at: number; report: Promise<HealthReport> } | null = null;

  constructor(
    private readonly ctr: CtrClient,
    private readonly runtime: RuntimeTarget,
    private readonly images: RootfsImageResolver,
    private readonly image: string,
    private readonly detect: HostDetector,
  ) {}

  check(): Promise<HealthReport> {
    if (this.last && Date.now() - this.last.at < CACHE_MS) return this.last.report;
    const report = this.compute();
    this.last = { at: Date.now(), report };
    return report;
  }

  private async compute(): Promise<HealthReport> {
    const checks: HealthReport['checks'] = [];
    let daemonOk = false;
    try {
      const v = await this.ctr.version();
      checks.push({ name: 'containerd', ok: true, detail: `containerd ${v} answers` });
      daemonOk = true;
    } catch {
      checks.push({ name: 'containerd', ok: false, detail: 'containerd does not answer on its socket' });
    }

    const host = await this.detect();
    checks.push({ name: 'runtime', ...driverFor(this.runtime.kind).health(this.runtime, host) });

    if (daemonOk) {
      try {
        await this.images.resolve(this.image);
        checks.push({ name: 'image', ok: true, detail: `${this.image} is present` });
      } catch (err) {
        checks.push({ name: 'image', ok: false, detail: err instanceof Error ? err.message : 'image check failed' });
      }
    } else {
      checks.push({ name: 'image', ok: false, detail: 'unknown: containerd does not answer' });
    }
    return { ok: checks.every((c) => c.ok), checks };
  }
}
