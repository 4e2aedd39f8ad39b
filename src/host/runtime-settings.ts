/** The settings the runtime drivers read, taken from the service's configuration. */
import path from 'node:path';
import type { Config } from '../config.js';
import type { RuntimeSettings } from '../runtimes/driver.js';

export function runtimeSettingsOf(config: Config): RuntimeSettings {
  return {
    runtime: config.runtime,
    hypervisor: config.hypervisor,
    kataShim: config.kataShim,
    kataConfigPath: config.kataConfigPath,
    runscPath: config.runscPath,
    runscWrapperPath: path.join(config.runDir, 'bin', 'runsc-kata-exec'),
  };
}
