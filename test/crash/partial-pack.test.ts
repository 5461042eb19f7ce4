/**
 * A pack cut short by a killed upload, as a store that lists objects before they are complete
 * (s3rver, some S3-compatible servers) shows it. The crash test meets it only when a kill lands
 * mid-upload; here it is put in place on a local target, so the handling is tested every run.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytes } from '../helpers/tree.js';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';

/** Every stored pack file below `repo/data`: path and id. */
function packFiles(repo: string): { path: string; id: string }[] {
  return readdirSync(join(repo, 'data'), { recursive: true, encoding: 'utf8' })
    .map((p) => ({ path: join(repo, 'data', p), id: p.slice(p.lastIndexOf('/') + 1) }))
    .filter((p) => /^[0-9a-f]{64}$/.test(p.id) && statSync(p.path).isFile());
}

describe('a pack cut short by an interrupted upload', () => {
  it('the next backup leaves it unused and says so; check reports it unindexed, and damage when it reads data; prune removes it', () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.bin'), bytes(7, 3 * 1024 * 1024));
    const nas = join(work, 'nas');
    const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: nas } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);

    // The first half of a real pack, under a pack name no index knows.
    const [real] = packFiles(nas);
    const whole = readFileSync(real!.path);
    const cutId = 'f'.repeat(63) + '0';
    mkdirSync(join(nas, 'data', cutId.slice(0, 2)), { recursive: true });
    const cutPath = join(nas, 'data', cutId.slice(0, 2), cutId);
    writeFileSync(cutPath, whole.subarray(0, whole.length >> 1));

    writeFileSync(join(src, 'b.bin'), bytes(8, 1024 * 1024));
    const b = triad(['backup', '-p', policy], { env: PASS });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain("target 'nas': 1 unreadable pack(s) left by an interrupted run are not used");
    expect(readFileSync(cutPath).length).toBe(whole.length >> 1);

    const c = triad(['check', '-p', policy, '--read-data', '--json'], { env: PASS });
    // Read whole, a cut-short pack is a file in data/ that is not a pack: damage (exit 4),
    // named, with prune as the remedy; without --read-data it stays a note.
    expect(c.code, c.stdout + c.stderr).toBe(4);
    const rep = JSON.parse(c.stdout).targets[0];
    expect(rep.damagedPacks).toEqual([]);
    expect(rep.errors.map((e: { kind: string; pack: string }) => [e.kind, e.pack])).toEqual([['not-a-pack', cutId]]);
    const plain = triad(['check', '-p', policy, '--json'], { env: PASS });
    expect(plain.code, plain.stdout + plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).targets[0].errors).toEqual([]);
    expect(JSON.parse(plain.stdout).targets[0].unindexedPacks).toEqual([cutId]);

    const to = join(work, 'restored');
    expect(triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS }).code).toBe(0);
    expect(readFileSync(join(to, 'src', 'b.bin')).equals(bytes(8, 1024 * 1024))).toBe(true);

    const p = triad(['prune', '-p', policy, '--unindexed-grace', '0'], { env: PASS });
    expect(p.code, p.stderr).toBe(0);
    expect(packFiles(nas).map((f) => f.id)).not.toContain(cutId);
    expect(JSON.parse(triad(['check', '-p', policy, '--read-data', '--json'], { env: PASS }).stdout).targets[0].unindexedPacks).toEqual([]);
  });
});
