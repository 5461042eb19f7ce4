import { randomBytes } from 'node:crypto';

/** Unpredictable bytes: repository ids and secrets, lock nonces, jitter. */
export function randomSecret(bytes: number): Buffer {
  return randomBytes(bytes);
}

/** Unpredictable hex token for temporary names that must not collide across hosts sharing a NAS. */
export function randomToken(bytes = 8): string {
  return randomBytes(bytes).toString('hex');
}
