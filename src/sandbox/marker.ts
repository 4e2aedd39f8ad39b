/**
 * The start marker: a random nonce per run, sent in the launcher's request and repeated
 * by the launcher in its start frame (the program is about to run) and in its end frame.
 * A start frame proves the sandbox started and the request reached its launcher: a
 * failure before it is the sandbox's (ctr's own error), never the program's. The program
 * never sees the nonce (it is not in its argv, its environment or its files), and frames
 * are written by the launcher only, so it could not forge one anyway.
 */
import { randomBytes } from 'node:crypto';

export function newNonce(): string {
  return `kx-start-${randomBytes(16).toString('hex')}`;
}
