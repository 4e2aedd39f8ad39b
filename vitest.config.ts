import { defineConfig } from 'vitest/config';

// Five tiers: unit (pure code), http (app.inject + fakes), integration and hostile (a real
// containerd that test/helpers/global-setup.ts starts), and kata (real Kata VMs, through a
// containerd that test/helpers/kata-setup.ts starts the way the Kata kit needs). They fail,
// never skip, when that containerd cannot run; scripts/test.sh runs the kata project only
// where the kit or a Kata shim is present, and says so.
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      // Room on a busy machine: vitest's 5 s default was seen to time out a rate-limit test under load.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000 } },
      { test: { name: 'http', include: ['test/http/**/*.test.ts'], testTimeout: 30_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/hostile/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          setupFiles: ['test/helpers/setup-service-logs.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'kata',
          include: ['test/kata/**/*.test.ts'],
          globalSetup: ['test/helpers/kata-setup.ts'],
          setupFiles: ['test/helpers/setup-service-logs.ts'],
          // A VM boots in ~10 s under TCG emulation (20 s on a busy host): room, never a tight time.
          testTimeout: 300_000,
          hookTimeout: 300_000,
          // One file at a time, and one VM at a time: an emulated VM whose agent is not up
          // within ~20 s fails to start ("Failed to check if grpc server is working"), and two
          // VMs booting at once on 2 cores were measured to miss that window most of the time.
          // On a KVM host, raise maxConcurrency and the cases of a file run side by side.
          fileParallelism: false,
          maxConcurrency: 1,
        },
      },
    ],
  },
});
