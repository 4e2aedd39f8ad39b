/**
 * `value`: the last stdout line of the form `__OUT__:<json>`, parsed. A program reports a
 * structured result this way (print("__OUT__:" + json.dumps(x))). Lines that do not parse
 * are ignored, so the last valid one wins.
 */
const PREFIX = '__OUT__:';

export function parseOutValue(stdout: string): { found: boolean; value?: unknown } {
  const lines = stdout.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.replace(/\r$/, '');
    if (!line.startsWith(PREFIX)) continue;
    try {
      return { found: true, value: JSON.parse(line.slice(PREFIX.length)) };
    } catch {
      continue;
    }
  }
  return { found: false };
}
