/**
 * What the in-process services of a test file logged at warn and above, kept in memory
 * (the last 300 lines) and printed when a test fails: a 502 in a test's assertion then
 * comes with the service's own account of its cause. TEST_LOG_LEVEL set: the logs go to
 * stdout instead, as they are written.
 */
import { beforeEach } from 'vitest';
import { pino, type Logger } from 'pino';

const KEEP = 300;
const recent: { at: number; line: string }[] = [];

export function testLogger(): Logger {
  if (process.env.TEST_LOG_LEVEL) return pino({ level: process.env.TEST_LOG_LEVEL });
  return pino(
    { level: 'warn' },
    {
      write(line: string) {
        recent.push({ at: Date.now(), line });
        if (recent.length > KEEP) recent.shift();
      },
    },
  );
}

export function loggedSince(at: number): string[] {
  return recent.filter((r) => r.at >= at).map((r) => r.line.trimEnd());
}

/** A setup file's hook: a failing test prints what the services logged while it ran. */
export function printServiceLogsOnFailure(): void {
  beforeEach(({ onTestFailed }) => {
    const at = Date.now();
    onTestFailed(() => {
      const lines = loggedSince(at);
      console.error(lines.length ? `the services logged, during this failed test:\n${lines.join('\n')}` : 'the services logged no warning during this failed test');
    });
  });
}
