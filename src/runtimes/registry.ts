/**
 * The runtimes this service knows, in the order `auto` tries them, and the choice of one.
 * `resolveRuntime` is pure: what the host has (host/detect.ts) and the settings in, a
 * RuntimeTarget out, or an error saying what to install.
 */
import type { RuntimeTarget } from '../ctr/argv.js';
import { RuntimeUnavailableError } from '../errors.js';
import type { Isolation, RuntimeKind } from '../schemas/common.js';
import type { HostRuntimes, RuntimeDriver, RuntimeSettings } from './driver.js';
import { gvisorDriver } from './gvisor.js';
import { kataDriver, kataRuntimeName } from './kata.js';
import { runcDriver } from './runc.js';
import { shimBinary } from './driver.js';

export const DRIVERS: Readonly<Record<RuntimeKind, RuntimeDriver>> = { kata: kataDriver, gvisor: gvisorDriver, runc: runcDriver };

/** Catalog order, and the order `auto` tries the drivers that allow it. */
export const DRIVER_ORDER: readonly RuntimeDriver[] = [kataDriver, gvisorDriver, runcDriver];

export function driverFor(kind: RuntimeKind): RuntimeDriver {
  return DRIVERS[kind];
}

export function isolationOf(kind: RuntimeKind): Isolation {
  return DRIVERS[kind].isolation;
}

/** Every shim binary some driver may use. */
export function knownShims(): string[] {
  return [...new Set(DRIVER_ORDER.flatMap((d) => d.shims))];
}

/**
 * Picks the runtime. `auto`: the first driver allowed to be picked automatically that the
 * host has (kata, then gvisor); runc only when named. Throws with what to install.
 */
export function resolveRuntime(s: RuntimeSettings, host: HostRuntimes): RuntimeTarget {
  if (s.runtime !== 'auto') {
    const d = DRIVERS[s.runtime];
    const missing = d.missing(s, host);
    if (missing) throw d.unavailable(missing);
    return d.target(s);
  }
  const found = DRIVER_ORDER.find((d) => d.auto && d.missing(s, host) === null);
  if (found) return found.target(s);
  throw new RuntimeUnavailableError(
    `no sandbox runtime found: install Kata Containers (${shimBinary(kataRuntimeName(s.hypervisor, s.kataShim))}) or gVisor (apt-get install runsc containerd); plain runc is used only with KATA_EXEC_RUNTIME=runc`,
  );
}
