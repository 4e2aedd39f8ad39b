/**
 * Seccomp profiles. `default` is containerd's own default profile (the one
 * `ctr run --seccomp` applies), read from containerd once at start rather than copied
 * here. `strict` (hardened) is derived from it by taking syscalls out of its allow rules.
 */
import type { OciSeccomp } from '../ctr/oci-spec.js';

/** Allowed by the default profile, denied in hardened: debugging, tracing, kernel-facing. */
export const STRICT_EXTRA_DENY = [
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'personality',
  'userfaultfd',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'keyctl',
  'add_key',
  'request_key',
  'bpf',
  'perf_event_open',
  'unshare',
  'setns',
  'mount',
  'umount2',
  'pivot_root',
  'chroot',
  'mknod',
  'mknodat',
  'name_to_handle_at',
  'open_by_handle_at',
  'kcmp',
  'syslog',
  'acct',
  'quotactl',
  'lookup_dcookie',
  'fanotify_init',
  'memfd_secret',
];

export function deriveStrictProfile(base: OciSeccomp): OciSeccomp {
  const deny = new Set(STRICT_EXTRA_DENY);
  const syscalls = (base.syscalls ?? [])
    .map((rule) => (rule.action === 'SCMP_ACT_ALLOW' ? { ...rule, names: rule.names.filter((n) => !deny.has(n)) } : rule))
    .filter((rule) => rule.names.length > 0);
  return { ...base, syscalls };
}

export function isSeccompProfile(v: unknown): v is OciSeccomp {
  return typeof v === 'object' && v !== null && typeof (v as OciSeccomp).defaultAction === 'string';
}
