#!/usr/bin/env node
// `npm start`: the demo job on the bundled policy — init if needed, back up to both local
// targets, list the snapshots. Needs no cloud account.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The demo passphrase is public on purpose (documented in the README); real policies read theirs from a secret store.
const env = { ...process.env, TRIAD_DEMO_PASSPHRASE: process.env.TRIAD_DEMO_PASSPHRASE ?? 'triad-demo-passphrase' };
const policy = join(root, 'policies', 'demo.yaml');

function triad(...args) {
  console.log(`\n$ triad ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [join(root, 'bin', 'triad'), ...args], { stdio: 'inherit', env });
  return r.status ?? 1;
}

let rc = triad('policy', 'check', policy);
if (rc !== 0) process.exit(rc);
rc = triad('init', '-p', policy);
if (rc !== 0) process.exit(rc);
rc = triad('backup', '-p', policy);
if (rc !== 0 && rc !== 3) process.exit(rc);
process.exit(triad('snapshots', '-p', policy) || rc);
