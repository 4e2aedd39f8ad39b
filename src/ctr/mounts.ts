/** Mount points, read from /proc/self/mountinfo (the parser is pure). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** The mount points of a mountinfo text (its fifth field). Octal escapes (\\040) are left as they are. */
export function parseMountPoints(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m !== '');
}

/** The mount points strictly under `dir`, deepest first (the order to unmount them in). */
export function mountPointsUnder(mountinfo: string, dir: string): string[] {
  return parseMountPoints(mountinfo)
    .filter((m) => m.startsWith(dir + path.sep))
    .sort((a, b) => b.length - a.length);
}

export async function readMountinfo(): Promise<string> {
  return readFile('/proc/self/mountinfo', 'utf8');
}

export async function isMountPoint(dir: string): Promise<boolean> {
  return parseMountPoints(await readMountinfo()).includes(dir);
}
