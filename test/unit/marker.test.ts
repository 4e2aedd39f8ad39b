import { describe, expect, it } from 'vitest';
import { MarkerGate, newNonce, wrapWithMarker, wrapWithMarkerAndReap } from '../../src/sandbox/marker.js';

const NONCE = 'kx-start-00112233445566778899aabbccddeeff';

function gate() {
  const out: Buffer[] = [];
  let starts = 0;
  const g = new MarkerGate(
    NONCE,
    () => {
      starts++;
    },
    (c) => out.push(Buffer.from(c)),
  );
  return {
    g,
    text: () => Buffer.concat(out).toString(),
    starts: () => starts,
  };
}

describe('newNonce', () => {
  it('is random and has the kx-start- prefix', () => {
    const a = newNonce();
    expect(a).toMatch(/^kx-start-[0-9a-f]{32}$/);
    expect(newNonce()).not.toBe(a);
  });
});

describe('wrapWithMarker', () => {
  it('runs sh that prints the nonce, then execs env with the program\'s variables and the command', () => {
    expect(wrapWithMarker(NONCE, ['python3', '/code/main.py'], ['LD_PRELOAD=/tmp/x.so'])).toEqual([
      '/bin/sh',
      '-c',
      `printf '%s\\n' ${NONCE} && exec "$@" </kx/stdin`,
      'sh',
      'env',
      '--',
      'LD_PRELOAD=/tmp/x.so',
      'python3',
      '/code/main.py',
    ]);
  });

  it('passes hostile arguments as separate elements', () => {
    const cmd = ['bash', '-c', '$(id); echo "$0"'];
    expect(wrapWithMarker(NONCE, cmd).slice(6)).toEqual(cmd);
  });

  it('refuses anything but a nonce in the script', () => {
    expect(() => wrapWithMarker('x; rm -rf /', ['true'])).toThrow();
    expect(() => wrapWithMarkerAndReap("kx-start-0'", ['true'])).toThrow();
  });

  it('the reaping variant hands the same env to the program only', () => {
    const w = wrapWithMarkerAndReap(NONCE, ['node', '/code/main.js'], ['A=1']);
    expect(w.slice(3)).toEqual(['sh', 'env', '--', 'A=1', 'node', '/code/main.js']);
    expect(w[2]).toContain(NONCE);
  });
});

describe('MarkerGate', () => {
  it('strips the marker line in one chunk and calls onStart once', () => {
    const t = gate();
    t.g.write(Buffer.from(`${NONCE}\nhello\n`));
    t.g.write(Buffer.from('more\n'));
    t.g.end();
    expect(t.text()).toBe('hello\nmore\n');
    expect(t.starts()).toBe(1);
    expect(t.g.seen).toBe(true);
  });

  it('strips the marker delivered byte by byte', () => {
    const t = gate();
    for (const b of Buffer.from(`${NONCE}\nok`)) t.g.write(Buffer.from([b]));
    t.g.end();
    expect(t.text()).toBe('ok');
    expect(t.starts()).toBe(1);
  });

  it('strips the marker at every split point', () => {
    const full = `${NONCE}\nprogram output`;
    for (let i = 1; i < full.length; i++) {
      const t = gate();
      t.g.write(Buffer.from(full.slice(0, i)));
      t.g.write(Buffer.from(full.slice(i)));
      t.g.end();
      expect(t.text()).toBe('program output');
      expect(t.starts()).toBe(1);
    }
  });

  it('onStart is not called again when the program prints the nonce itself', () => {
    const t = gate();
    t.g.write(Buffer.from(`${NONCE}\n`));
    t.g.write(Buffer.from(`${NONCE}\n`));
    t.g.end();
    expect(t.starts()).toBe(1);
    expect(t.text()).toBe(`${NONCE}\n`);
  });

  it('output without the marker passes through unchanged', () => {
    const t = gate();
    t.g.write(Buffer.from('ctr: failed to create shim\n'));
    t.g.write(Buffer.from('x'));
    t.g.end();
    expect(t.text()).toBe('ctr: failed to create shim\nx');
    expect(t.starts()).toBe(0);
    expect(t.g.seen).toBe(false);
  });

  it('the nonce without its newline is not the marker', () => {
    const t = gate();
    t.g.write(Buffer.from(`${NONCE}X`));
    t.g.end();
    expect(t.text()).toBe(`${NONCE}X`);
    expect(t.starts()).toBe(0);
  });

  it('a different nonce is not the marker', () => {
    const t = gate();
    t.g.write(Buffer.from('kx-start-ffffffffffffffffffffffffffffffff\nhi'));
    t.g.end();
    expect(t.text()).toBe('kx-start-ffffffffffffffffffffffffffffffff\nhi');
    expect(t.starts()).toBe(0);
  });

  it('end() flushes a held-back partial prefix', () => {
    const t = gate();
    t.g.write(Buffer.from('kx-sta'));
    expect(t.text()).toBe('');
    t.g.end();
    expect(t.text()).toBe('kx-sta');
    expect(t.starts()).toBe(0);
  });

  it('end() with nothing written writes nothing', () => {
    const t = gate();
    t.g.end();
    expect(t.text()).toBe('');
  });

  it('a partial prefix followed by other bytes is passed through whole', () => {
    const t = gate();
    t.g.write(Buffer.from('kx-st'));
    t.g.write(Buffer.from('op'));
    t.g.end();
    expect(t.text()).toBe('kx-stop');
  });

  it('writes after end() pass through', () => {
    const t = gate();
    t.g.end();
    t.g.write(Buffer.from(`${NONCE}\n`));
    expect(t.text()).toBe(`${NONCE}\n`);
    expect(t.starts()).toBe(0);
  });
});
