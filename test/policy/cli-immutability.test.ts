import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triadAsync } from '../helpers/triad.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'triad-policy-cli-imm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the real launcher; never rejects, returns the exit code and both streams. */
const triad = (...args: string[]) => triadAsync(args, { env: { NO_COLOR: '1' } });

/** Every kind of immutable target (S3 Object Lock, Azure with a SAS token, GCS, a local WORM volume). */
const IMMUTABLE_FILE = path.join(root, 'fixtures/policies/immutable-targets.yaml');
const IMMUTABLE = readFileSync(IMMUTABLE_FILE, 'utf8');

const PLAIN = `version: 1
policy: plain
sources: [/srv/data]
encryption: {passphrase_env: TRIAD_PASSPHRASE}
targets:
  nas: {type: local, path: /mnt/nas, media: nas}
  cloud: {type: s3, bucket: acme-s3}
`;

beforeAll(async () => {
  if (!existsSync(path.join(root, 'dist/cli/main.js'))) {
    await run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmitOnError', 'false'], { cwd: root }).catch((e: { stdout?: string }) => e);
  }
  writeFileSync(path.join(tmp, 'plain.yaml'), PLAIN);
}, 180_000);

/** The lines of stdout from the `  <target> (` heading up to the next target heading or the end. */
function section(stdout: string, target: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`    ${target} (`));
  if (start < 0) throw new Error(`no immutability section for ${target} in:\n${stdout}`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => !l.startsWith('      '));
  return [lines[start]!, ...(end < 0 ? rest : rest.slice(0, end))];
}

describe('triad policy check: what immutable targets need', () => {
  it('prints, per immutable target, what triad sets and what the bucket/container must have', async () => {
    const r = await triad('policy', 'check', IMMUTABLE_FILE);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('immutable copies - what the storage must have enabled (not checked: policy check does not connect):');
    expect(r.stdout).not.toMatch(/^ {4}nas \(/m);

    const s3 = section(r.stdout, 's3-lock');
    expect(s3[0]).toBe('    s3-lock (s3, s3://acme-s3)');
    expect(s3[1]).toBe('      triad sets: Object Lock retention on every object written: mode COMPLIANCE, 30 days from the write');
    expect(s3[2]).toMatch(/^ {6}- Object Lock must be enabled on bucket acme-s3: it is set when the bucket is created/);
    expect(s3[3]).toMatch(/^ {6}- versioning must be enabled on bucket acme-s3/);
    expect(s3[4]).toMatch(/^ {6}- COMPLIANCE mode cannot be shortened or removed by anyone/);
    expect(s3).toHaveLength(5);

    const az = section(r.stdout, 'blob');
    expect(az[0]).toBe('    blob (azure, azure://acme/acme-blob)');
    expect(az[1]).toBe('      triad sets: a blob immutability policy on every blob written: mode locked, 14 days from the write');
    expect(az[2]).toMatch(/^ {6}- version-level immutability support must be enabled on container acme-blob or its storage account/);
    expect(az[3]).toMatch(/^ {6}- locked mode cannot be shortened or removed, only extended/);
    expect(az[4]).toBe('      - the SAS token in AZ_SAS must include the Set Immutability Policy permission (i)');
    expect(az).toHaveLength(5);

    const gcs = section(r.stdout, 'gcs');
    expect(gcs[0]).toBe('    gcs (gcs, gs://acme-gcs)');
    expect(gcs[1]).toBe('      triad sets: nothing');
    expect(gcs[2]).toMatch(/^ {6}- triad sets nothing on GCS objects: bucket acme-gcs must have a retention policy .* or object retention/);
    expect(gcs).toHaveLength(3);

    const vault = section(r.stdout, 'vault');
    expect(vault[0]).toBe('    vault (local, /mnt/worm)');
    expect(vault[1]).toBe('      triad sets: nothing');
    expect(vault[2]).toMatch(/^ {6}- triad sets nothing on local targets: an offline or WORM medium behind \/mnt\/worm .* is your responsibility$/);
    expect(vault).toHaveLength(3);
  });

  it('--json carries the same notes in each result', async () => {
    const r = await triad('policy', 'check', '--json', IMMUTABLE_FILE, path.join(tmp, 'plain.yaml'));
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { results: { immutability?: { target: string; type: string; where: string; triadSets: string | null; requirements: string[] }[] }[] };
    const [imm, plain] = doc.results;
    expect(imm!.immutability?.map((n) => [n.target, n.type, n.where])).toEqual([
      ['s3-lock', 's3', 's3://acme-s3'],
      ['blob', 'azure', 'azure://acme/acme-blob'],
      ['gcs', 'gcs', 'gs://acme-gcs'],
      ['vault', 'local', '/mnt/worm'],
    ]);
    const [s3, az, gcs] = imm!.immutability!;
    expect(s3!.triadSets).toContain('mode COMPLIANCE, 30 days');
    expect(s3!.requirements.some((q) => q.startsWith('versioning must be enabled'))).toBe(true);
    expect(az!.triadSets).toContain('mode locked, 14 days');
    expect(az!.requirements[0]).toContain('version-level immutability support');
    expect(gcs!.triadSets).toBeNull();
    expect(gcs!.requirements[0]).toMatch(/^triad sets nothing on GCS objects/);
    expect(plain!.immutability).toEqual([]);
  });

  it('prints no immutability section for a policy without immutable targets', async () => {
    const r = await triad('policy', 'check', path.join(tmp, 'plain.yaml'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('policy plain');
    expect(r.stdout).not.toContain('immutable copies -');
  });

  it('rejects azure immutability without immutable: true, located, exit 2', async () => {
    const bad = IMMUTABLE.replace('    immutable: true\n    immutability:', '    immutability:');
    expect(bad).not.toBe(IMMUTABLE);
    writeFileSync(path.join(tmp, 'bad.yaml'), bad);
    const r = await triad('policy', 'check', path.join(tmp, 'bad.yaml'));
    expect(r.code).toBe(2);
    const line = bad.split('\n').findIndex((l) => l.startsWith('    immutability:')) + 1;
    expect(r.stdout).toContain(`${path.join(tmp, 'bad.yaml')}:${line}:5: targets.blob.immutability: \`immutability\` needs \`immutable: true\``);
  });
});
