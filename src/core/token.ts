import { randomBytes } from 'node:crypto';

/** Unpredictable hex token for temporary names that must not collide across hosts sharing a NAS. */
export function randomToken(bytes = 8): string {
  return randomBytes(bytes).toString('hex');
}
