/** FakeHealthChecker: answers readiness with a scripted report and counts the probes. */
import type { HealthChecker, HealthReport } from '../../src/sandbox/types.js';

type Check = HealthReport['checks'][number];

export const HEALTHY_CHECKS: readonly Check[] = [
  { name: 'containerd', ok: true, detail: 'containerd 2.0.0 answers' },
  { name: 'runtime', ok: true, detail: 'gvisor (io.containerd.runc.v2) is installed' },
  { name: 'image', ok: true, detail: 'toolruntime-sandbox:latest is present' },
];

export class FakeHealthChecker implements HealthChecker {
  calls = 0;
  report: HealthReport;

  constructor(report: HealthReport = { ok: true, checks: HEALTHY_CHECKS.map((c) => ({ ...c })) }) {
    this.report = report;
  }

  /** Every check passes. */
  healthy(): this {
    this.report = { ok: true, checks: HEALTHY_CHECKS.map((c) => ({ ...c })) };
    return this;
  }

  /** The named checks fail with the given details; the others pass. */
  failing(failures: Record<string, string>): this {
    const checks = HEALTHY_CHECKS.map((c) => (c.name in failures ? { name: c.name, ok: false, detail: failures[c.name]! } : { ...c }));
    for (const [name, detail] of Object.entries(failures)) {
      if (!checks.some((c) => c.name === name)) checks.push({ name, ok: false, detail });
    }
    this.report = { ok: false, checks };
    return this;
  }

  async check(): Promise<HealthReport> {
    this.calls++;
    return { ok: this.report.ok, checks: this.report.checks.map((c) => ({ ...c })) };
  }
}
