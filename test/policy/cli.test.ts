import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triadAsync } from '../helpers/triad.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'triad-policy-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the real launcher; never rejects, returns the exit code and both streams. */
const triad = (...args: string[]) => triadAsync(args, { env: { NO_COLOR: '1' } });

const VIOLATING = `version: 1
policy: single-copy
sources: [/srv/data]
encryption: {passphrase_env: TRIAD_PASSPHRASE}
targets:
  nas: {type: local, path: /mnt/nas, media: nas}
`;

beforeAll(async () => {
  // `npm test` builds first; a bare `npx vitest run` on a fresh clone may not have.
  if (!existsSync(path.join(root, 'dist/cli/main.js'))) {
    await run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmitOnError', 'false'], { cwd: root }).catch((e: { stdout?: string }) => e);
  }
  writeFileSync(path.join(tmp, 'violating.yaml'), VIOLATING);
}, 180_000);

describe('triad policy check', () => {
  it('exits 0 for the shipped policies and prints each matrix', async () => {
    const r = await triad('policy', 'check', 'policies/demo.yaml', 'policies/fileserver-s3.yaml', 'policies/postgres-azure.yaml', 'policies/workstations-gcs.yaml');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('policies/demo.yaml: policy demo, rule 3-2-1: PASS');
    expect(r.stdout).toMatch(/offsite\s+local\s+removable\s+yes/);
    expect(r.stdout).toMatch(/distinct media\s+3\s+2\s+pass/);
    expect(r.stdout).toContain('4 policies: 4 pass, 0 fail, 0 invalid');
  });

  it('exits 4 when a valid policy violates its rule', async () => {
    const r = await triad('policy', 'check', path.join(tmp, 'violating.yaml'));
    expect(r.code).toBe(4);
    expect(r.stdout).toContain('FAIL');
    expect(r.stdout).toMatch(/off-site copies\s+0\s+1\s+fail/);
  });

  it('exits 2 for an invalid file, listing its problems as file:line:col: path: message', async () => {
    const r = await triad('policy', 'check', 'fixtures/policies/bad/unknown-key-typo.yaml');
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('fixtures/policies/bad/unknown-key-typo.yaml:24:1: retension: unknown key `retension` (did you mean `retention`?)');
  });

  it('exit 2 wins over 4, and a missing file is invalid too', async () => {
    const r = await triad('policy', 'check', path.join(tmp, 'violating.yaml'), 'fixtures/policies/bad/bad-cron.yaml', 'no/such/policy.yaml');
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('no/such/policy.yaml: policy file not found');
  });

  it('--json prints one document for all files', async () => {
    const r = await triad('policy', 'check', '--json', 'policies/demo.yaml', path.join(tmp, 'violating.yaml'), 'fixtures/policies/bad/wrong-type.yaml');
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout) as {
      ok: boolean;
      exitCode: number;
      results: { file: string; ok: boolean; valid: boolean; verdict: string; policy?: { name: string }; matrix?: { counts: unknown }; problems?: { line: number; path: string }[] }[];
    };
    expect(doc.ok).toBe(false);
    expect(doc.exitCode).toBe(2);
    expect(doc.results.map((x) => [x.verdict, x.ok, x.valid])).toEqual([
      ['pass', true, true],
      ['fail', false, true],
      ['invalid', false, false],
    ]);
    expect(doc.results[0]!.policy!.name).toBe('demo');
    expect(doc.results[0]!.matrix!.counts).toEqual({ copies: 3, media: 3, offsite: 1, immutableOrOffline: 0 });
    expect(doc.results[2]!.problems).toEqual([expect.objectContaining({ line: 13, path: 'targets.nas.offsite' })]);
  });

  it('--json with the global flag before the command works too', async () => {
    const r = await triad('--json', 'policy', 'check', 'policies/demo.yaml');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, exitCode: 0 });
  });

  it('--help shows examples', async () => {
    const r = await triad('policy', 'check', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('$ triad policy check policies/demo.yaml');
    const group = await triad('policy', '--help');
    expect(group.stdout).toContain('Examples:');
  });

  it('exits 2 when no file is given', async () => {
    const r = await triad('policy', 'check');
    expect(r.code).toBe(2);
  });
});
