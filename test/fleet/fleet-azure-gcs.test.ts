import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { azuriteForSuite, startGcs, type GcsEmulator } from '../helpers/emulators.js';
import { PASS, triad, writePolicy } from '../helpers/triad.js';

// `fleet report` and `restore-test --repo` read Azure Blob and Google Cloud Storage as they read
// S3 and a path (fleet-report.test.ts): two hosts back up into one azurite container and one GCS
// bucket; each URL, with the credentials the SDKs take from the environment, gives both hosts.
const work = mkdtempSync(join(tmpdir(), 'triad-fleet-az-gcs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const azure = azuriteForSuite();
let gcs: GcsEmulator;
beforeAll(async () => {
  gcs = await startGcs(join(work, 'gcs'));
}, 60_000);
afterAll(async () => {
  await gcs?.stop();
});

const at = (h: number) => `2026-03-02T${String(h).padStart(2, '0')}:00:00.000Z`;
const HOSTS = ['alpha', 'beta'] as const;

function env(now?: string): Record<string, string> {
  return {
    ...PASS,
    ...azure.az.env,
    ...gcs.env,
    // What `--repo azure://` and `gcs://` read: the SDKs' own variables.
    AZURE_STORAGE_CONNECTION_STRING: azure.az.connectionString,
    STORAGE_EMULATOR_HOST: gcs.endpoint,
    GOOGLE_CLOUD_PROJECT: gcs.projectId,
    ...(now ? { TRIAD_TEST_NOW: now } : {}),
  };
}

function ok(args: string[], now?: string): string {
  const r = triad(args, { env: env(now) });
  expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('fleet report and restore-test --repo on azurite and the GCS emulator', () => {
  it('lists both hosts with their last backups from azure:// and gcs://, and restore-tests them from there', () => {
    for (const host of HOSTS) {
      const home = join(work, host);
      mkdirSync(join(home, 'src'), { recursive: true });
      writeFileSync(join(home, 'src', `${host}.bin`), randomBytes(200 * 1024));
      const policy = writePolicy(home, {
        name: 'srv',
        sources: [join(home, 'src')],
        targets: { az: azure.az.policyFields({ prefix: 'fleet/' }), gcs: gcs.policyFields({ prefix: 'fleet/' }) },
        rule: 'none',
        extra: { host, objectives: { rpo: '4h', rto: '2h', window: '7d' } },
      });
      if (host === 'alpha') ok(['init', '-p', policy]);
      for (const hour of [0, 3]) ok(['backup', '-p', policy], at(hour));
    }
    const urls: [string, string][] = [
      [`azure://${azure.az.container}/fleet`, 'az'],
      [`gcs://${gcs.bucket}/fleet`, 'gcs'],
    ];
    for (const [url, target] of urls) {
      const repo = ['--repo', url, '--passphrase-env', 'TEST_PASSPHRASE'];
      const doc = JSON.parse(ok(['fleet', 'report', ...repo, '--format', 'json'], at(4))) as { policies: { host: string; policy: string; verdict: string; backups: { target: string; lastSuccess: { at: string } | null }[] }[] };
      expect(doc.policies.map((p) => [p.host, p.policy, p.verdict]), url).toEqual([
        ['alpha', 'srv', 'compliant'],
        ['beta', 'srv', 'compliant'],
      ]);
      for (const p of doc.policies) {
        // The copy read and the host's other target, from its backup records.
        expect(['az', 'gcs'].map((t) => p.backups.find((b) => b.target === t)?.lastSuccess?.at ?? null), `${url} ${p.host}`).toEqual([at(3), at(3)]);
      }
      const tested = JSON.parse(ok(['restore-test', ...repo, '--all-hosts', '--target', target, '--files', '10', '--seed', '3', '--json'], at(4))) as { tests: { host: string; ok: boolean }[] };
      expect(tested.tests.map((t) => [t.host, t.ok]), url).toEqual([
        ['alpha', true],
        ['beta', true],
      ]);
    }
  }, 180_000);
});
