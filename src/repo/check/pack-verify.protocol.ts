import type { PackVerdict } from './pack-verify.js';

/** What a pack-verify thread needs: the repository's keys. */
export interface VerifierInit {
  encKey: Uint8Array;
  macKey: Uint8Array;
}

/** Main → thread: verify one pack, the first `length` bytes of `buf` (transferred). */
export type ToVerifier = { type: 'verify'; job: number; pack: string; buf: ArrayBuffer; length: number };

/** Thread → main: the verdict on job `job`; `buf` is its memory, given back (transferred) for reuse. */
export type FromVerifier = { type: 'verified'; job: number; buf: ArrayBuffer } & PackVerdict;
