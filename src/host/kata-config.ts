/**
 * The Kata configuration the shim reads, as far as the service can see it: only to know
 * whether the guest applies the sandbox's seccomp filter (`disable_guest_seccomp`), so that
 * `limitsEnforced.seccomp` says so only when it is true.
 *
 * The file is, in order: KATA_EXEC_KATA_CONFIG_PATH; KATA_CONF_FILE in containerd's
 * environment (the shim inherits it; the kit sets it); Kata's default paths. Read through
 * containerd's root (/proc/PID/root), where the shim reads it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { findContainerdPid } from './containerd-ns.js';

export const KATA_DEFAULT_CONFIG_PATHS = [
  '/etc/kata-containers/configuration.toml',
  '/usr/share/defaults/kata-containers/configuration.toml',
  '/opt/kata/share/defaults/kata-containers/configuration.toml',
];

/**
 * `disable_guest_seccomp` of a Kata configuration's [runtime] section. Absent: true, Kata's
 * own default (the guest applies no filter).
 */
export function disablesGuestSeccomp(toml: string): boolean {
  let section = '';
  for (const raw of toml.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      continue;
    }
    const m = /^disable_guest_seccomp\s*=\s*(true|false)$/.exec(line);
    if (m && section === 'runtime') return m[1] === 'true';
  }
  return true;
}

/** KATA_CONF_FILE in a NUL-separated /proc/PID/environ, or null. */
export function kataConfFileOf(environ: string): string | null {
  const v = environ.split('\0').find((e) => e.startsWith('KATA_CONF_FILE='));
  return v ? v.slice('KATA_CONF_FILE='.length) || null : null;
}

export interface KataConfigView {
  /** The file read, as containerd sees it; null when none was found. */
  file: string | null;
  /** The guest applies the OCI seccomp filter. False when unknown: never claimed unseen. */
  guestSeccomp: boolean;
}

export async function readKataConfig(configured: string, containerdAddress: string): Promise<KataConfigView> {
  const pid = await findContainerdPid(containerdAddress);
  const root = pid === null ? '/' : `/proc/${pid}/root`;
  const fromEnv = pid === null ? null : kataConfFileOf(await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => ''));
  const candidates = configured ? [configured] : [...(fromEnv ? [fromEnv] : []), ...KATA_DEFAULT_CONFIG_PATHS];
  for (const file of candidates) {
    const text = await readFile(path.join(root, file), 'utf8').catch(() => null);
    if (text !== null) return { file, guestSeccomp: !disablesGuestSeccomp(text) };
  }
  return { file: null, guestSeccomp: false };
}
