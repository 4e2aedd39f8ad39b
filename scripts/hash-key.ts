/**
 * Prints the KATA_EXEC_API_KEYS entry for a token: `npm run -s hash-key -- NAME [TOKEN]`.
 * Without TOKEN it makes a random one and prints it once (keep it: only its hash is stored).
 */
import { randomBytes } from 'node:crypto';
import { hashToken } from '../src/http/auth.js';

const [name, given] = process.argv.slice(2);
if (!name || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
  console.error('usage: npm run -s hash-key -- NAME [TOKEN]');
  process.exit(2);
}
const token = given ?? `kx_${randomBytes(24).toString('base64url')}`;
if (!given) console.error(`token (give it to the client; it is not stored): ${token}`);
console.log(`${name}:${hashToken(token).toString('hex')}`);
