import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, triad, writeLocalPolicy } from '../helpers/triad.js';

/** Issue #9: several passphrases per repository, identical on every replica. */
describe('key list / add / remove / passwd', () => {
  const work = scratchDir('triad-keys-');
  const src = join(work, 'src');
  let policy: string;
  const OLD = PASS.TEST_PASSPHRASE;
  const SAFE = 'sealed in the safe';
  const ROTATED = 'rotated passphrase';
  const keys = (t: string) => readdirSync(join(work, t, 'keys')).filter((n) => !n.startsWith('.')).sort();
  const as = (passphrase: string, extra: Record<string, string> = {}) => ({ env: { TEST_PASSPHRASE: passphrase, ...extra } });

  beforeAll(() => {
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    policy = writeLocalPolicy(work, { sources: [src] });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('starts with one key, the same on both replicas, marked as the one in use', () => {
    expect(triad(['init', '-p', policy], as(OLD)).code).toBe(0);
    expect(triad(['backup', '-p', policy], as(OLD)).code).toBe(0);
    const r = triad(['key', 'list', '-p', policy, '--json'], as(OLD));
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.consistent).toBe(true);
    expect(out.targets).toHaveLength(2);
    for (const t of out.targets) {
      expect(t.keys).toHaveLength(1);
      expect(t.keys[0].current).toBe(true);
    }
    expect(keys('nas')).toEqual(keys('usb'));
  });

  it('add: a second passphrase opens the repository on every target; the key file is identical everywhere', () => {
    const r = triad(['key', 'add', '-p', policy, '--new-passphrase-env', 'NEWPASS', '--json'], as(OLD, { NEWPASS: SAFE }));
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.targets.map((t: { status: string }) => t.status)).toEqual(['added', 'added']);
    expect(keys('nas')).toHaveLength(2);
    expect(keys('nas')).toEqual(keys('usb'));
    expect(readFileSync(join(work, 'nas', 'keys', out.added))).toEqual(readFileSync(join(work, 'usb', 'keys', out.added)));
    expect(r.stdout + r.stderr).not.toContain(SAFE);
    // use it
    const snaps = triad(['snapshots', '-p', policy, '--json'], as(SAFE));
    expect(snaps.code, snaps.stderr).toBe(0);
    expect(JSON.parse(snaps.stdout).snapshots).toHaveLength(1);
    writeFileSync(join(src, 'b.txt'), 'beta\n');
    expect(triad(['backup', '-p', policy], as(SAFE)).code).toBe(0);
    // adding the same passphrase again changes nothing
    const again = triad(['key', 'add', '-p', policy, '--new-passphrase-env', 'NEWPASS'], as(OLD, { NEWPASS: SAFE }));
    expect(again.code).toBe(2);
    expect(keys('nas')).toHaveLength(2);
  });

  it('add without a new passphrase and without a terminal is a usage error', () => {
    const r = triad(['key', 'add', '-p', policy], as(OLD));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--new-passphrase-env');
  });

  it('remove: refuses the key in use, removes another; the removed passphrase no longer opens the repository', () => {
    const list = JSON.parse(triad(['key', 'list', '-p', policy, '--json'], as(OLD)).stdout);
    const oldId: string = list.targets[0].keys.find((k: { current: boolean }) => k.current).id;
    const inUse = triad(['key', 'remove', '-p', policy, oldId.slice(0, 12)], as(OLD));
    expect(inUse.code).toBe(2);
    expect(inUse.stderr).toContain('passphrase opens');
    expect(keys('nas')).toHaveLength(2);

    const r = triad(['key', 'remove', '-p', policy, oldId.slice(0, 12), '--json'], as(SAFE));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).removed).toBe(oldId);
    expect(keys('nas')).toEqual(keys('usb'));
    expect(keys('nas')).not.toContain(oldId);
    const denied = triad(['snapshots', '-p', policy], as(OLD));
    expect(denied.code).toBe(12);
    expect(triad(['snapshots', '-p', policy], as(SAFE)).code).toBe(0);
  });

  it('the last key can never be removed', () => {
    const [only] = keys('nas');
    expect(keys('nas')).toHaveLength(1);
    const r = triad(['key', 'remove', '-p', policy, only!], as(SAFE));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('last key');
    expect(keys('nas')).toEqual([only]);
    expect(keys('usb')).toEqual([only]);
  });

  it('passwd rotates: the new passphrase opens, the old one does not, data is not rewritten', () => {
    const packsBefore = readdirSync(join(work, 'nas', 'data'), { recursive: true }).sort();
    const file = join(work, 'new.key');
    writeFileSync(file, ROTATED + '\n', { mode: 0o600 });
    const r = triad(['key', 'passwd', '-p', policy, '--new-passphrase-file', file, '--json'], as(SAFE));
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.targets.map((t: { status: string }) => t.status)).toEqual(['rotated', 'rotated']);
    expect(keys('nas')).toEqual([out.added]);
    expect(keys('usb')).toEqual([out.added]);
    expect(triad(['snapshots', '-p', policy], as(SAFE)).code).toBe(12);
    const ok = triad(['snapshots', '-p', policy, '--json'], as(ROTATED));
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).snapshots).toHaveLength(2);
    expect(readdirSync(join(work, 'nas', 'data'), { recursive: true }).sort()).toEqual(packsBefore);
    const restored = join(work, 'restored');
    expect(triad(['restore', '-p', policy, 'latest', '--to', restored], as(ROTATED)).code).toBe(0);
    expect(readFileSync(join(restored, 'src', 'b.txt'), 'utf8')).toBe('beta\n');
  });

  it('a wrong current passphrase changes nothing and exits 12', () => {
    const before = keys('nas');
    const r = triad(['key', 'add', '-p', policy, '--new-passphrase-env', 'N'], as('wrong', { N: 'whatever' }));
    expect(r.code).toBe(12);
    expect(keys('nas')).toEqual(before);
  });
});

describe('damaged and crafted key files', () => {
  const work = scratchDir('triad-keys-damage-');
  const src = join(work, 'src');
  let policy: string;
  const keyDir = (t: string) => join(work, t, 'keys');
  const keys = (t: string) => readdirSync(keyDir(t)).filter((n) => !n.startsWith('.')).sort();
  /** A copy of the genuine key file with other scrypt parameters, named to be tried first. */
  const craft = (target: string, kdf: { N: number; r: number; p: number }) => {
    const genuine = JSON.parse(readFileSync(join(keyDir(target), keys(target).at(-1)!), 'utf8'));
    writeFileSync(join(keyDir(target), '0000crafted'), JSON.stringify({ ...genuine, kdf: { ...genuine.kdf, ...kdf } }));
  };

  beforeAll(() => {
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    policy = writeLocalPolicy(work, { sources: [src] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('a truncated only key file is damage naming keys/<id> (exit 1), not a wrong passphrase; the other replica still opens', () => {
    const [id] = keys('nas');
    const file = join(keyDir('nas'), id!);
    const genuine = readFileSync(file);
    writeFileSync(file, genuine.subarray(0, 100));
    try {
      const r = triad(['snapshots', '-p', policy, '--target', 'nas'], { env: PASS });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`key file keys/${id} is damaged (not valid JSON (truncated or overwritten)); no other key file exists [E_INTEGRITY]`);
      expect(r.stderr).toContain("copy the damaged one from another target's keys/");
      const both = triad(['snapshots', '-p', policy, '--json'], { env: PASS });
      expect(both.code, both.stderr).toBe(0);
      expect(JSON.parse(both.stdout).snapshots).toHaveLength(1);
      const list = triad(['key', 'list', '-p', policy, '--json'], { env: PASS });
      expect(list.code).toBe(1);
      const nas = JSON.parse(list.stdout).targets.find((t: { name: string }) => t.name === 'nas');
      expect(nas.keys).toEqual([{ id, unreadable: true, damage: 'not valid JSON (truncated or overwritten)', current: false }]);
    } finally {
      writeFileSync(file, genuine);
    }
  });

  it('key list with a wrong passphrase lists the key files and exits 12', () => {
    const r = triad(['key', 'list', '-p', policy], { env: { TEST_PASSPHRASE: 'not the passphrase' } });
    expect(r.code, r.stderr).toBe(12);
    expect(r.stdout).toContain(keys('nas')[0]!.slice(0, 16));
    expect(r.stderr).toContain('wrong passphrase for target');
  });

  it('a key file asking for more scrypt work than triad writes is skipped with a warning, and check reports it', () => {
    craft('nas', { N: 2 ** 18, r: 8, p: 1 });
    try {
      const r = triad(['snapshots', '-p', policy, '--target', 'nas'], { env: PASS });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain("warning: target 'nas': key file keys/0000crafted is damaged (scrypt parameters N=262144 r=8 p=1 exceed what triad writes");
      const check = triad(['check', '-p', policy, '--target', 'nas', '--json'], { env: PASS });
      const report = JSON.parse(check.stdout);
      expect(report.targets[0].errors).toEqual([expect.objectContaining({ kind: 'key', message: expect.stringContaining('key file keys/0000crafted is damaged (scrypt parameters N=262144') })]);
      expect(check.code).toBe(4);
    } finally {
      rmSync(join(keyDir('nas'), '0000crafted'));
    }
  });

  it('maximal scrypt parameters (4 GiB, minutes of work) are refused before any scrypt runs', () => {
    craft('usb', { N: 2 ** 20, r: 32, p: 16 });
    try {
      const started = Date.now();
      const r = triad(['snapshots', '-p', policy, '--target', 'usb'], { env: PASS });
      expect(r.code, r.stderr).toBe(0);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(r.stderr).toContain('key file keys/0000crafted is damaged (scrypt parameters N=1048576 r=32 p=16 exceed what triad writes');
    } finally {
      rmSync(join(keyDir('usb'), '0000crafted'));
    }
  }, 30_000);
});
