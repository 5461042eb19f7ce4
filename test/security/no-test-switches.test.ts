/**
 * The shipped CLI has no test switch: bin/triad reads none of the variables tests once used to
 * make it cheap, and a repository whose key is cheaper than production's is named on every
 * command until `key passwd` rewrites it.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, tempDir, triad, triadShipped, writeLocalPolicy } from '../helpers/triad.js';

const PRODUCTION = { N: 1 << 15, r: 8, p: 3 };
const OLD_TEST_VARIABLES = { TRIAD_TEST_LOW_KDF: '1', TRIAD_TEST_NOW: '2031-05-05T05:05:05Z', TRIAD_TEST_PACK_SIZE: '4096', TRIAD_LOCK_STALE_AFTER_MS: '600' };

/** The KDF parameters and creation time of every key file of a local target. */
function keyFiles(target: string): { N: number; r: number; p: number; created: string }[] {
  const dir = join(target, 'keys');
  return readdirSync(dir).map((f) => {
    const k = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { created: string; kdf: { N: number; r: number; p: number } };
    return { N: k.kdf.N, r: k.kdf.r, p: k.kdf.p, created: k.created };
  });
}

function setup(): { work: string; policy: string; src: string } {
  const work = tempDir();
  const src = join(work, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'hello');
  return { work, src, policy: writeLocalPolicy(work, { sources: [src] }) };
}

const WEAK = /targets 'nas', 'usb': key [0-9a-f]{12} that this passphrase opens is derived with scrypt N=2\^10 r=8 p=1, below scrypt N=2\^15 r=8 p=3/;

describe('no test switch in the shipped CLI', () => {
  it('bin/triad init with every old test variable set writes production KDF parameters at the real time', () => {
    const { work, policy } = setup();
    const before = Date.now();
    const r = triadShipped(['init', '-p', policy], { env: { ...PASS, ...OLD_TEST_VARIABLES } });
    expect(r.code, r.stderr).toBe(0);
    for (const target of ['nas', 'usb']) {
      const keys = keyFiles(join(work, target));
      expect(keys).toHaveLength(1);
      expect({ N: keys[0]!.N, r: keys[0]!.r, p: keys[0]!.p }).toEqual(PRODUCTION);
      // TRIAD_TEST_NOW would have dated the key 2031.
      expect(Date.parse(keys[0]!.created)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(keys[0]!.created)).toBeLessThanOrEqual(Date.now() + 1000);
    }
    const s = triadShipped(['snapshots', '-p', policy], { env: { ...PASS, ...OLD_TEST_VARIABLES } });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).not.toMatch(/below scrypt/);
  });

  it('a key below the production floor is named on every command until key passwd rewrites it at full strength', () => {
    const { work, policy } = setup();
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(keyFiles(join(work, 'nas'))[0]).toMatchObject({ N: 1 << 10, p: 1 });
    // The test entry's floor matches its cost: ordinary tests see no warning.
    expect(triad(['snapshots', '-p', policy], { env: PASS }).stderr).not.toMatch(/below scrypt/);

    const snapshots = triadShipped(['snapshots', '-p', policy], { env: PASS });
    expect(snapshots.code, snapshots.stderr).toBe(0);
    expect(snapshots.stderr).toMatch(WEAK);
    expect(snapshots.stderr).toContain(`run 'triad key passwd -p ${policy}' to rewrite it at full strength`);
    const backup = triadShipped(['backup', '-p', policy, '--json'], { env: PASS });
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toMatch(WEAK);
    for (const out of [snapshots.stdout, snapshots.stderr, backup.stdout, backup.stderr]) expect(out).not.toContain(PASS.TEST_PASSPHRASE);

    const NEW = 'a much longer and stronger passphrase';
    const passwd = triadShipped(['key', 'passwd', '-p', policy, '--new-passphrase-env', 'NEW'], { env: { ...PASS, NEW } });
    expect(passwd.code, passwd.stderr).toBe(0);
    for (const target of ['nas', 'usb']) {
      const keys = keyFiles(join(work, target));
      expect(keys.map((k) => ({ N: k.N, r: k.r, p: k.p }))).toEqual([PRODUCTION]);
    }
    const after = triadShipped(['snapshots', '-p', policy], { env: { TEST_PASSPHRASE: NEW } });
    expect(after.code, after.stderr).toBe(0);
    expect(after.stderr).not.toMatch(/below scrypt/);
  });

  it('key passwd with the same passphrase rewrites a weak key, and is refused for a key at full strength', () => {
    const { work, policy } = setup();
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const same = triadShipped(['key', 'passwd', '-p', policy, '--new-passphrase-env', 'TEST_PASSPHRASE'], { env: PASS });
    expect(same.code, same.stderr).toBe(0);
    expect(keyFiles(join(work, 'nas')).map((k) => ({ N: k.N, r: k.r, p: k.p }))).toEqual([PRODUCTION]);
    expect(triadShipped(['snapshots', '-p', policy], { env: PASS }).stderr).not.toMatch(/below scrypt/);

    const again = triadShipped(['key', 'passwd', '-p', policy, '--new-passphrase-env', 'TEST_PASSPHRASE'], { env: PASS });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('the new passphrase is the one already in use');
  });

  it('thread counts from the environment are validated: a non-number is a usage error', () => {
    const { policy } = setup();
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    for (const name of ['TRIAD_BACKUP_WORKERS', 'TRIAD_RESTORE_WRITERS']) {
      const r = triad(['backup', '-p', policy], { env: { ...PASS, [name]: 'four' } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${name}=four: expected a whole number of threads from 1 to 64`);
    }
  });
});
