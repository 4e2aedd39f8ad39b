import { defineConfig } from 'vitest/config';

// Four tiers: unit (pure code), http (app.inject + fakes), integration and hostile (a real
// containerd that test/helpers/global-setup.ts starts). Integration and hostile fail, never
// skip, when that containerd cannot run.
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { name: 'http', include: ['test/http/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/hostile/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
