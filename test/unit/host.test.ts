import { describe, expect, it } from 'vitest';
import { overlayMountArgv, umountArgv } from '../../src/ctr/host.js';

describe('host argv', () => {
  it('overlay mount: type, source, one -o string, target', () => {
    expect(overlayMountArgv('/run/kx/rootfs', '/w/upper', '/w/work', '/w/merged')).toEqual([
      '-t',
      'overlay',
      'overlay',
      '-o',
      'lowerdir=/run/kx/rootfs,upperdir=/w/upper,workdir=/w/work',
      '/w/merged',
    ]);
  });

  it('umount is lazy and takes the target as one element', () => {
    expect(umountArgv('/w/merged dir')).toEqual(['--lazy', '/w/merged dir']);
  });
});
