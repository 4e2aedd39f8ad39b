/** The settings the runtime drivers read, taken from the service's configuration. */
import path from 'node:path';
import type { Config } from '../config.js';
import type { HostRuntimes, RuntimeSettings } from '../runtimes/driver.js';
import { kataShimFor } from '../runtimes/kata.js';
import type { KataConfigView } from './kata-config.js';

/** `host`: resolves KATA_EXEC_KATA_SHIM=auto against the shims it has (kata.ts, kataShimFor). */
export function runtimeSettingsOf(config: Config, host: HostRuntimes, kata: KataConfigView | null = null): RuntimeSettings {
  return {
    kataGuestSeccomp: kata?.guestSeccomp ?? false,
    runtime: config.runtime,
    hypervisor: config.hypervisor,
    kataShim: kataShimFor(config.kataShim, config.hypervisor, host),
    kataConfigPath: config.kataConfigPath,
    runscPath: config.runscPath,
    runscWrapperPath: path.join(config.runDir, 'bin', 'runsc-kata-exec'),
  };
}
