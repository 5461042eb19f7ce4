/** Worker thread of `check --read-data`: verifies whole packs while the main thread verifies others. */
import { parentPort, workerData } from 'node:worker_threads';
import { verifyPackBytes } from './pack-verify.js';
import type { VerifyDone, VerifyJob } from './pack-verify-pool.js';

const init = workerData as { encKey: Uint8Array; macKey: Uint8Array };
const key = { encrypt: Buffer.from(init.encKey), mac: Buffer.from(init.macKey) };
const port = parentPort!;

port.on('message', (m: VerifyJob) => {
  port.postMessage({ job: m.job, ...verifyPackBytes(key, m.pack, Buffer.from(m.buf, 0, m.length)), buf: m.buf } satisfies VerifyDone, [m.buf]);
});
