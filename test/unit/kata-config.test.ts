/** Whether a Kata guest applies seccomp, read from the configuration its shim uses. */
import { describe, expect, it } from 'vitest';
import { disablesGuestSeccomp, kataConfFileOf } from '../../src/host/kata-config.js';

describe('disable_guest_seccomp', () => {
  it('reads the [runtime] key, as the kit sets it', () => {
    expect(disablesGuestSeccomp('[hypervisor.qemu]\npath = "/q"\n\n[runtime]\nenable_debug = false\ndisable_guest_seccomp = false\n')).toBe(false);
    expect(disablesGuestSeccomp('[runtime]\ndisable_guest_seccomp=true\n')).toBe(true);
  });

  it("absent, commented out or in another section: Kata's default, disabled", () => {
    expect(disablesGuestSeccomp('[runtime]\nenable_debug = false\n')).toBe(true);
    expect(disablesGuestSeccomp('[runtime]\n#disable_guest_seccomp = false\n')).toBe(true);
    expect(disablesGuestSeccomp('[agent.kata]\ndisable_guest_seccomp = false\n[runtime]\n')).toBe(true);
  });

  it('ignores a trailing comment', () => {
    expect(disablesGuestSeccomp('[runtime]\ndisable_guest_seccomp = false # enforce it\n')).toBe(false);
  });
});

describe("KATA_CONF_FILE in containerd's environment", () => {
  it('is found among NUL-separated variables', () => {
    expect(kataConfFileOf('PATH=/bin\0KATA_CONF_FILE=/opt/kata-kit/configuration.toml\0HOME=/root\0')).toBe('/opt/kata-kit/configuration.toml');
  });
  it('absent or empty: null', () => {
    expect(kataConfFileOf('PATH=/bin\0')).toBeNull();
    expect(kataConfFileOf('KATA_CONF_FILE=\0')).toBeNull();
  });
});
