/** One line per HTTP test file: apps built with buildTestApp, closed after each test. */
import { afterEach } from 'vitest';
import { buildTestApp, type TestApp, type TestAppOptions } from './build-test-app.js';

export function useTestApps(): (opts?: TestAppOptions) => Promise<TestApp> {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((t) => t.app.close()));
  });
  return async (opts = {}) => {
    const t = await buildTestApp(opts);
    apps.push(t);
    return t;
  };
}
