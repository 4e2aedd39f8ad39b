import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { configTable } from '../../src/config.js';
import { hashToken, matchKey } from '../../src/http/auth.js';

const hex = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

describe('hashToken', () => {
  it('is the SHA-256 of the token\'s UTF-8 bytes, as 32 raw bytes', () => {
    const h = hashToken('kx_secret');
    expect(Buffer.isBuffer(h)).toBe(true);
    expect(h).toHaveLength(32);
    expect(h.toString('hex')).toBe(hex('kx_secret'));
    expect(hashToken('').toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hashToken('ü').toString('hex')).toBe(hex('ü'));
    expect(hashToken('a').equals(hashToken('b'))).toBe(false);
  });

  it('matches what `npm run -s hash-key -- NAME TOKEN` prints', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/hash-key.ts', 'ci', 'tok-123'], {
      encoding: 'utf8',
      cwd: new URL('../..', import.meta.url),
    });
    expect(out.trim()).toBe(`ci:${hex('tok-123')}`);
  });

  // The settings table tells operators the script's real usage.
  it('the KATA_EXEC_API_KEYS documentation shows the script\'s real usage (NAME [TOKEN])', () => {
    const row = configTable().split('\n').find((l) => l.includes('KATA_EXEC_API_KEYS'))!;
    expect(row).toMatch(/hash-key -- NAME/);
  });
});

describe('matchKey', () => {
  const keys = [
    { name: 'alice', sha256: hex('tok-alice') },
    { name: 'bob', sha256: hex('tok-bob') },
  ];

  it('returns the name of the key whose hash matches', () => {
    expect(matchKey('tok-alice', keys)).toBe('alice');
    expect(matchKey('tok-bob', keys)).toBe('bob');
  });

  it('returns null for any other token', () => {
    expect(matchKey('tok-carol', keys)).toBeNull();
    expect(matchKey('', keys)).toBeNull();
    expect(matchKey('TOK-ALICE', keys)).toBeNull();
    expect(matchKey('tok-alice ', keys)).toBeNull();
    // The hash is not the token.
    expect(matchKey(hex('tok-alice'), keys)).toBeNull();
  });

  it('returns null without keys', () => {
    expect(matchKey('tok-alice', [])).toBeNull();
  });

  it('accepts upper-case hex as configured', () => {
    expect(matchKey('tok-alice', [{ name: 'a', sha256: hex('tok-alice').toUpperCase() }])).toBe('a');
  });

  it('the first of two keys with the same hash wins', () => {
    expect(matchKey('tok-alice', [{ name: 'first', sha256: hex('tok-alice') }, { name: 'second', sha256: hex('tok-alice') }])).toBe('first');
  });

  it('compares every key (constant time: no early exit on a match)', () => {
    // Each key's hash is read once per call, the matching one first included.
    let reads = 0;
    const spied = keys.map((k) => ({
      name: k.name,
      get sha256() {
        reads++;
        return k.sha256;
      },
    }));
    expect(matchKey('tok-alice', spied)).toBe('alice');
    expect(reads).toBe(keys.length);
  });
});
