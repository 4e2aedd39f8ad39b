/**
 * What this service can run, for GET /v1/runtimes: the image's languages with the versions
 * recorded in the image itself, the sandbox runtimes this host really has, and every
 * limit's default and maximum.
 */
import type { Config } from '../config.js';
import type { RuntimeTarget } from '../ctr/argv.js';
import type { Profile } from '../schemas/common.js';
import type { RuntimesInfo } from '../schemas/runtimes.js';
import type { HostDetector } from './detect.js';
import { IMAGE_OF_VARIANT, isAvailable, LANGUAGES } from '../execution/languages.js';
import { PROFILES } from '../execution/profiles.js';
import { DRIVER_ORDER } from '../runtimes/registry.js';
import { readImageLanguages } from './rootfs.js';
import { runtimeSettingsOf } from './runtime-settings.js';

export interface Catalog {
  describe(): Promise<RuntimesInfo>;
}

export { readImageLanguages };

export class HostCatalog implements Catalog {
  constructor(
    private readonly config: Config,
    private readonly active: RuntimeTarget,
    private readonly rootfs: () => Promise<string | null>,
    private readonly detect: HostDetector,
  ) {}

  async describe(): Promise<RuntimesInfo> {
    const host = await this.detect();
    const root = await this.rootfs().catch(() => null);
    const versions = root ? await readImageLanguages(root) : null;
    const settings = runtimeSettingsOf(this.config, host);
    const runtimes = DRIVER_ORDER.map((d) => d.catalogRow(settings, host, this.active));
    return {
      languages: LANGUAGES.map((l) => {
        const entry = `/code/${l.file}`;
        return {
          name: l.name,
          aliases: l.aliases,
          version: versions?.[l.name] ?? null,
          entryFile: l.file,
          compile: l.compile ? { command: l.compile.command(entry, []), env: l.compile.env ?? [] } : null,
          run: l.command(entry),
          image: IMAGE_OF_VARIANT[l.image],
          available: isAvailable(l, versions),
        };
      }),
      runtimes,
      image: this.config.image,
      limits: this.config.limits,
      sessions: {
        idleTimeoutMs: this.config.sessions.idleMs,
        maxLifetimeMs: this.config.sessions.lifetimeMs,
        perKey: this.config.sessions.perKey,
        max: this.config.sessions.max,
        fileMaxBytes: this.config.sessions.fileMaxBytes,
        outputFiles: this.config.outputFiles,
      },
      profiles: (Object.keys(PROFILES) as Profile[]).map((name) => ({
        name,
        available: PROFILES[name].runtimes.includes(this.active.kind),
        defaults: { ...PROFILES[name].defaults } as Record<string, number>,
      })),
    };
  }
}
