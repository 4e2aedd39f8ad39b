/**
 * Profiles are concrete sandbox specs. The README's profile table describes this file.
 */
import type { Profile, RuntimeKind } from '../schemas/common.js';
import type { SecuritySpec } from '../sandbox/types.js';

export const NOBODY = '65534:65534';
export const ROOT = '0:0';

export interface ProfileDefinition {
  security: SecuritySpec;
  /** Runtimes the profile may run on. */
  runtimes: readonly RuntimeKind[];
  /** Tighter defaults than the server's (each still capped by the server maximum). */
  defaults: Partial<{ memoryMb: number; pids: number; diskMb: number; openFiles: number; cpus: number }>;
}

export const PROFILES: Record<Profile, ProfileDefinition> = {
  dev: {
    // Root inside the sandbox (no capabilities, no new privileges) over a writable root: a
    // per-execution overlay, discarded afterwards. No network: the host network is never
    // allowed and this service sets up no CNI network.
    // Not on runc: there, without a user namespace, root inside is the host's root (uid_map
    // 0 0 4294967295), one kernel bug away from the host. A user namespace would leave the
    // shared image's files owned by an unmapped uid, so the "writable root" would not be.
    security: { user: ROOT, readOnlyRootfs: false, networkMode: 'none', seccompProfile: 'default', privileged: false },
    runtimes: ['kata', 'gvisor'],
    defaults: {},
  },
  standard: {
    security: { user: NOBODY, readOnlyRootfs: true, networkMode: 'none', seccompProfile: 'default', privileged: false },
    runtimes: ['kata', 'gvisor', 'runc'],
    defaults: {},
  },
  hardened: {
    security: { user: NOBODY, readOnlyRootfs: true, networkMode: 'none', seccompProfile: 'strict', privileged: false },
    runtimes: ['kata', 'gvisor'],
    defaults: { memoryMb: 128, pids: 64, diskMb: 16, openFiles: 128, cpus: 0.5 },
  },
};
