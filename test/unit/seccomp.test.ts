import { describe, expect, it } from 'vitest';
import type { OciSeccomp } from '../../src/ctr/oci-spec.js';
import { DEFAULT_EXTRA_DENY, deriveDefaultProfile, deriveStrictProfile, isSeccompProfile, STRICT_EXTRA_DENY } from '../../src/host/seccomp.js';
import { seccompForGvisor as forGvisor } from '../../src/runtimes/gvisor.js';

function base(): OciSeccomp {
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: ['read', 'write', 'ptrace', 'bpf', 'openat', 'io_uring_setup'], action: 'SCMP_ACT_ALLOW' },
      // Conditional allow (e.g. containerd's personality rule): emptied, so dropped.
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
      // Allowed only with a capability in containerd's profile: ALLOW, so filtered too.
      { names: ['mount', 'umount2', 'unshare', 'setns', 'chroot', 'sethostname'], action: 'SCMP_ACT_ALLOW' },
      // A non-allow rule that names denied syscalls stays as is.
      { names: ['ptrace', 'kcmp'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }] },
    ],
  };
}

const allowed = (p: OciSeccomp) => new Set((p.syscalls ?? []).filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names));

describe('deriveStrictProfile', () => {
  it('removes every STRICT_EXTRA_DENY name from the allow rules', () => {
    const strict = deriveStrictProfile(base());
    const a = allowed(strict);
    for (const n of STRICT_EXTRA_DENY) expect(a.has(n)).toBe(false);
    for (const n of ['read', 'write', 'openat', 'sethostname', 'clone']) expect(a.has(n)).toBe(true);
  });

  it('keeps the order and the other fields of the rules it filters', () => {
    const strict = deriveStrictProfile(base());
    expect(strict.syscalls?.[0]).toEqual({ names: ['read', 'write', 'openat'], action: 'SCMP_ACT_ALLOW' });
    expect(strict.syscalls?.at(-1)).toEqual(base().syscalls?.at(-1));
  });

  it('drops allow rules left empty', () => {
    const strict = deriveStrictProfile(base());
    expect(strict.syscalls?.some((r) => r.names.length === 0)).toBe(false);
    expect(strict.syscalls?.some((r) => r.names.includes('personality'))).toBe(false);
    expect(strict.syscalls).toHaveLength(4);
  });

  it('keeps non-allow rules untouched', () => {
    const strict = deriveStrictProfile(base());
    expect(strict.syscalls).toContainEqual({ names: ['ptrace', 'kcmp'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  });

  it('keeps defaultAction and the other top-level fields', () => {
    const strict = deriveStrictProfile(base());
    expect(strict.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(strict.defaultErrnoRet).toBe(1);
    expect(strict.architectures).toEqual(base().architectures);
  });

  it('does not mutate its input', () => {
    const b = base();
    const before = structuredClone(b);
    deriveStrictProfile(b);
    expect(b).toEqual(before);
  });

  it('a profile without syscalls gets an empty list', () => {
    expect(deriveStrictProfile({ defaultAction: 'SCMP_ACT_ALLOW' })).toEqual({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] });
  });

  it('the deny list is made of plain syscall names without duplicates', () => {
    expect(new Set(STRICT_EXTRA_DENY).size).toBe(STRICT_EXTRA_DENY.length);
    for (const n of STRICT_EXTRA_DENY) expect(n).toMatch(/^[a-z0-9_]+$/);
  });
});

describe('isSeccompProfile', () => {
  it('needs an object with a string defaultAction', () => {
    expect(isSeccompProfile({ defaultAction: 'SCMP_ACT_ERRNO' })).toBe(true);
    expect(isSeccompProfile({ defaultAction: 1 })).toBe(false);
    expect(isSeccompProfile(null)).toBe(false);
    expect(isSeccompProfile('SCMP_ACT_ERRNO')).toBe(false);
    expect(isSeccompProfile({})).toBe(false);
  });
});

describe('deriveDefaultProfile', () => {
  it('removes io_uring from the allow rules and nothing else', () => {
    const d = deriveDefaultProfile(base());
    const a = allowed(d);
    for (const n of DEFAULT_EXTRA_DENY) expect(a.has(n)).toBe(false);
    for (const n of ['read', 'write', 'ptrace', 'bpf', 'openat', 'mount']) expect(a.has(n)).toBe(true);
  });

  it('strict denies io_uring too', () => {
    const a = allowed(deriveStrictProfile(base()));
    for (const n of DEFAULT_EXTRA_DENY) expect(a.has(n)).toBe(false);
  });
});

describe('forGvisor', () => {
  it('turns the clone3 ENOSYS rule into an allow rule, leaving the rest', () => {
    const p: OciSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [...base().syscalls!, { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }] };
    const g = forGvisor(p);
    expect(g.syscalls?.filter((r) => r.names.includes('clone3'))).toEqual([{ names: ['clone3'], action: 'SCMP_ACT_ALLOW' }]);
    expect(g.syscalls?.slice(0, -1)).toEqual(base().syscalls);
  });
});

describe('deriveDefaultProfile: ptrace', () => {
  it('allows ptrace only with a request other than PTRACE_TRACEME', () => {
    const rules = deriveDefaultProfile(base()).syscalls!.filter((r) => r.names.includes('ptrace'));
    expect(rules).toContainEqual({ names: ['ptrace'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_NE' }] });
    expect(rules.some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args)).toBe(false);
  });

  it('strict has no ptrace at all', () => {
    expect(allowed(deriveStrictProfile(base())).has('ptrace')).toBe(false);
  });
});
