// Runs firebase-tools' Cloud Storage emulator without its Java rules runtime (the GCS JSON
// API never evaluates rules). Internals of firebase-tools 15.34.2: keep this file small.
// Usage: node gcs-emulator.cjs PORT PROJECT_ID   (PORT 0 = pick a free one)
'use strict';
const net = require('node:net');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function main() {
  const wanted = Number(process.argv[2] || 0);
  const projectId = process.argv[3] || 'demo-test';
  const port = wanted || (await freePort());
  const { StorageEmulator } = require('firebase-tools/lib/emulator/storage');
  const { EmulatorRegistry } = require('firebase-tools/lib/emulator/registry');
  const emu = new StorageEmulator({
    projectId,
    host: '127.0.0.1',
    port,
    rules: { name: '/dev/null', content: '' },
    auto_download: false,
  });
  emu._rulesRuntime.start = async () => {};
  emu._rulesRuntime.stop = async () => {};
  emu._rulesManager.start = async () => [];
  emu._rulesManager.stop = async () => {};
  await EmulatorRegistry.start(emu);
  process.stdout.write(`triad-gcs-emulator ready http://127.0.0.1:${port}\n`);
  const stop = () => {
    EmulatorRegistry.stop('storage').finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`triad-gcs-emulator failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
