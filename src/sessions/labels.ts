/**
 * What a session carries in its container's labels, where a restarted service reads it
 * again: its owner, its profile and limits, its creation, its expiry, its idle timeout and
 * its last use. Pure.
 */
import type { Profile } from '../schemas/common.js';
import type { EffectiveSessionLimits } from '../schemas/sessions.js';

export const LABEL_SESSION = 'org.kata-exec.session';
export const LABEL_OWNER = 'org.kata-exec.session.owner';
export const LABEL_CREATED = 'org.kata-exec.session.created';
export const LABEL_EXPIRES = 'org.kata-exec.session.expires';
export const LABEL_IDLE_MS = 'org.kata-exec.session.idle-ms';
export const LABEL_LAST_USED = 'org.kata-exec.session.last-used';
export const LABEL_LIMITS = 'org.kata-exec.session.limits';
export const LABEL_PROFILE = 'org.kata-exec.profile';

export interface SessionState {
  id: string;
  owner: string;
  profile: Profile;
  limits: EffectiveSessionLimits;
  createdAt: number;
  /** The end of its maximum lifetime (ms since the epoch). */
  maxExpiresAt: number;
  idleTimeoutMs: number;
  lastUsedAt: number;
}

export function sessionLabels(s: SessionState): Record<string, string> {
  const l = s.limits;
  return {
    [LABEL_SESSION]: 'true',
    [LABEL_OWNER]: s.owner,
    [LABEL_PROFILE]: s.profile,
    [LABEL_CREATED]: String(s.createdAt),
    [LABEL_EXPIRES]: String(s.maxExpiresAt),
    [LABEL_IDLE_MS]: String(s.idleTimeoutMs),
    [LABEL_LAST_USED]: String(s.lastUsedAt),
    [LABEL_LIMITS]: [l.memoryMb, l.cpus, l.pids, l.diskMb, l.openFiles].join(':'),
  };
}

/** A session's state from its labels; null when they are not a whole session's. */
export function sessionFromLabels(id: string, labels: Record<string, string>): SessionState | null {
  if (labels[LABEL_SESSION] !== 'true') return null;
  const num = (k: string) => (labels[k] !== undefined && /^\d+(\.\d+)?$/.test(labels[k]!) ? Number(labels[k]) : null);
  const created = num(LABEL_CREATED);
  const expires = num(LABEL_EXPIRES);
  const idle = num(LABEL_IDLE_MS);
  const lastUsed = num(LABEL_LAST_USED) ?? created;
  const limits = (labels[LABEL_LIMITS] ?? '').split(':').map(Number);
  const profile = labels[LABEL_PROFILE];
  const owner = labels[LABEL_OWNER];
  if (created === null || expires === null || idle === null || lastUsed === null || !owner) return null;
  if (profile !== 'dev' && profile !== 'standard' && profile !== 'hardened') return null;
  if (limits.length !== 5 || limits.some((n) => !Number.isFinite(n))) return null;
  const [memoryMb, cpus, pids, diskMb, openFiles] = limits as [number, number, number, number, number];
  return { id, owner, profile, limits: { memoryMb, cpus, pids, diskMb, openFiles }, createdAt: created, maxExpiresAt: expires, idleTimeoutMs: idle, lastUsedAt: lastUsed };
}

/** When the session is due to end: the sooner of its idle deadline and its maximum lifetime. */
export function expiresAt(s: Pick<SessionState, 'lastUsedAt' | 'idleTimeoutMs' | 'maxExpiresAt'>): number {
  return Math.min(s.lastUsedAt + s.idleTimeoutMs, s.maxExpiresAt);
}

/** Why a session (not in a call) is due to end now, or null. */
export function expiredBecause(s: Pick<SessionState, 'lastUsedAt' | 'idleTimeoutMs' | 'maxExpiresAt'>, now: number): 'lifetime' | 'idle' | null {
  if (now >= s.maxExpiresAt) return 'lifetime';
  if (now >= s.lastUsedAt + s.idleTimeoutMs) return 'idle';
  return null;
}
