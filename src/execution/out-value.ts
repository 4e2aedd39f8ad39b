/**
 * `value`: the last stdout line of the form `__OUT__:<json>`, parsed. A program reports a
 * structured result this way (print("__OUT__:" + json.dumps(x))). Lines that do not parse
 * are ignored, so the last valid one wins. So are lines whose JSON is larger than
 * MAX_OUT_VALUE_BYTES or nested deeper than MAX_OUT_VALUE_DEPTH: such a value could not be
 * answered (serialising it is recursive), and stdout, which holds the line, is answered
 * whatever the value.
 */
const PREFIX = '__OUT__:';

export const MAX_OUT_VALUE_BYTES = 256 * 1024;
export const MAX_OUT_VALUE_DEPTH = 64;

/** How deep the arrays and objects of a JSON text nest (strings skipped), stopping past `limit`. */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

export function parseOutValue(stdout: string): { found: boolean; value?: unknown } {
  const lines = stdout.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.replace(/\r$/, '');
    if (!line.startsWith(PREFIX)) continue;
    const json = line.slice(PREFIX.length);
    if (Buffer.byteLength(json) > MAX_OUT_VALUE_BYTES || jsonDepth(json, MAX_OUT_VALUE_DEPTH) > MAX_OUT_VALUE_DEPTH) continue;
    try {
      return { found: true, value: JSON.parse(json) };
    } catch {
      continue;
    }
  }
  return { found: false };
}
