/** Worker thread of `check --read-data`: verifies whole packs while the main thread verifies others. */
import { parentPort, workerData } from 'node:worker_threads';
import { verifyPackBytes } from './pack-verify.js';
import type { FromVerifier, ToVerifier, VerifierInit } from './pack-verify.protocol.js';

const init = workerData as VerifierInit;
const key = { encrypt: Buffer.from(init.encKey), mac: Buffer.from(init.macKey) };
const port = parentPort!;

port.on('message', (m: ToVerifier) => {
  const verdict = verifyPackBytes(key, m.pack, Buffer.from(m.buf, 0, m.length));
  port.postMessage({ type: 'verified', job: m.job, buf: m.buf, reason: verdict.reason, entries: verdict.entries } satisfies FromVerifier, [m.buf]);
});
