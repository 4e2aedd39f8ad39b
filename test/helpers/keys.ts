/** API keys for the tests: the KATA_EXEC_API_KEYS entries of known tokens. */
import { hashToken } from '../../src/http/auth.js';

export const TOKENS = { alice: 'kx_alice-token-0123456789', bob: 'kx_bob-token-9876543210' } as const;

export function keyEntry(name: string, token: string): string {
  return `${name}:${hashToken(token).toString('hex')}`;
}

/** KATA_EXEC_API_KEYS for alice and bob. */
export const API_KEYS = Object.entries(TOKENS)
  .map(([name, token]) => keyEntry(name, token))
  .join(',');

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}
