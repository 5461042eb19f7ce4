import { mkdirSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { bytes } from '../helpers/tree.js';
import { openCatalog } from '../../src/catalog/catalog.js';
import { readJournal } from '../../src/repo/model/journal.js';
import { contents, filesUnder, openRepo, sizeOf } from './helpers.js';

const KiB = 1024;
const UNIQUE = 900 * KiB; // one file per snapshot that no other snapshot holds
const SHARED = 1200 * KiB; // in every snapshot

describe('forget + prune on two local targets (CLI as a subprocess)', () => {
  const work = scratchDir();
  const src = join(work, 'src');
  let policy: string;
  const snaps: { id: string; time: string; files: Map<string, Buffer> }[] = [];
  const times = ['2024-03-01T10:00:00Z', '2024-03-02T10:00:00Z', '2024-03-03T10:00:00Z', '2024-03-04T10:00:00Z'];

  beforeAll(() => {
    mkdirSync(src, { recursive: true });
    policy = writeLocalPolicy(work, { sources: [src], extra: 'retention:\n  keep_last: 2\n' });
    const init = triad(['init', '-p', policy], { env: PASS });
    expect(init.code, init.stderr).toBe(0);
    writeFileSync(join(src, 'shared.bin'), bytes(100, SHARED));
    for (let i = 0; i < times.length; i++) {
      if (i > 0) unlinkSync(join(src, `unique-${i - 1}.bin`));
      writeFileSync(join(src, `unique-${i}.bin`), bytes(200 + i, UNIQUE));
      const r = triad(['backup', '-p', policy, '--time', times[i]!, '--json'], { env: PASS });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { snapshot: string };
      snaps.push({ id: out.snapshot, time: times[i]!, files: contents(src) });
    }
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('forget --dry-run lists every snapshot with keep/remove and the rule, and changes nothing', () => {
    const before = filesUnder(join(work, 'nas', 'snapshots'));
    const r = triad(['forget', '-p', policy, '--dry-run', '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.targets.map((t: { target: string }) => t.target)).toEqual(['nas', 'usb']);
    for (const t of out.targets) {
      expect(t.retentionSource).toBe('policy');
      expect(t.removed).toEqual([]);
      expect(t.snapshots.map((s: { id: string; keep: boolean; reasons: string[] }) => [s.id, s.keep, s.reasons])).toEqual([
        [snaps[0]!.id, false, []],
        [snaps[1]!.id, false, []],
        [snaps[2]!.id, true, ['keep_last']],
        [snaps[3]!.id, true, ['keep_last']],
      ]);
    }
    expect(filesUnder(join(work, 'nas', 'snapshots'))).toEqual(before);
    const text = triad(['forget', '-p', policy, '--dry-run'], { env: PASS });
    expect(text.stdout).toContain('would remove 2 of 4 snapshot(s)');
    expect(text.stdout).toMatch(new RegExp(`${snaps[0]!.id.slice(0, 8)}.*remove`));
    expect(text.stdout).toMatch(new RegExp(`${snaps[3]!.id.slice(0, 8)}.*keep.*keep_last`));
  });

  it('forget removes the snapshots only from the repository; prune then frees exactly their data', async () => {
    const dataBefore = sizeOf(join(work, 'nas', 'data'));
    const usbBefore = sizeOf(join(work, 'usb', 'data'));
    const f = triad(['forget', '-p', policy, '--json'], { env: PASS });
    expect(f.code, f.stderr).toBe(0);
    const fo = JSON.parse(f.stdout);
    for (const t of fo.targets) expect([...t.removed].sort()).toEqual([snaps[0]!.id, snaps[1]!.id].sort());
    expect([...filesUnder(join(work, 'nas', 'snapshots')).keys()].map((k) => k.split('/').pop()).sort()).toEqual([snaps[2]!.id, snaps[3]!.id].sort());
    // Forget alone frees no pack.
    expect(sizeOf(join(work, 'nas', 'data'))).toBe(dataBefore);

    const dry = triad(['prune', '-p', policy, '--target', 'nas', '--dry-run', '--json'], { env: PASS });
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout).targets[0].plan;
    expect(plan.snapshots).toBe(2);
    expect(plan.bytesToFree).toBeGreaterThanOrEqual(2 * UNIQUE);
    expect(sizeOf(join(work, 'nas', 'data'))).toBe(dataBefore);

    const p = triad(['prune', '-p', policy, '--json'], { env: PASS });
    expect(p.code, p.stderr).toBe(0);
    const po = JSON.parse(p.stdout);
    const dataAfter = sizeOf(join(work, 'nas', 'data'));
    const shrink = dataBefore - dataAfter;
    // The two forgotten snapshots alone held unique-0 and unique-1 (random, so stored about 1:1),
    // plus their small trees; everything else is still needed.
    expect(shrink).toBeGreaterThanOrEqual(2 * UNIQUE);
    expect(shrink).toBeLessThan(2 * UNIQUE + 64 * KiB);
    const nas = po.targets.find((t: { target: string }) => t.target === 'nas');
    expect(nas.bytesFreed).toBeGreaterThanOrEqual(shrink); // index files freed too
    expect(nas.bytesFreed).toBeLessThan(shrink + 64 * KiB);
    const usbShrink = usbBefore - sizeOf(join(work, 'usb', 'data'));
    expect(usbShrink).toBeGreaterThanOrEqual(2 * UNIQUE);
    expect(usbShrink).toBeLessThan(2 * UNIQUE + 64 * KiB);
    // A second prune finds nothing more to free.
    const again = triad(['prune', '-p', policy, '--target', 'nas', '--dry-run', '--json'], { env: PASS });
    const plan2 = JSON.parse(again.stdout).targets[0].plan;
    expect(plan2.remove).toEqual([]);
    expect(plan2.repack).toEqual([]);
    expect(plan2.bytesToFree).toBe(0);
  });

  it('check --read-data passes on both targets, with no unindexed pack left', () => {
    const r = triad(['check', '-p', policy, '--read-data', '--json'], { env: PASS });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    for (const t of out.targets) {
      expect(t.errors).toEqual([]);
      expect(t.unindexedPacks).toEqual([]);
      expect(t.snapshots).toBe(2);
    }
  });

  it('the remaining snapshots restore byte for byte from each target', () => {
    for (const target of ['nas', 'usb']) {
      for (const s of snaps.slice(2)) {
        const to = tempDir();
        const r = triad(['restore', '-p', policy, s.id, '--to', to, '--target', target], { env: PASS });
        expect(r.code, r.stderr).toBe(0);
        const root = join(to, readdirSync(to)[0]!);
        const got = contents(root);
        expect([...got.keys()].sort()).toEqual([...s.files.keys()].sort());
        for (const [k, v] of s.files) expect(got.get(k)!.equals(v), `${target} ${s.id.slice(0, 8)} ${k}`).toBe(true);
      }
    }
  });

  it('the catalogue and the journal record what was forgotten, when and by which rule', async () => {
    const cat = openCatalog(join(work, 'catalog.db'));
    try {
      const rows = cat.listSnapshots('test', { target: 'nas' });
      const byId = new Map(rows.map((r) => [r.id, r.presence.find((p) => p.target === 'nas')!]));
      expect(byId.get(snaps[0]!.id)!.status).toBe('forgotten');
      expect(byId.get(snaps[0]!.id)!.forget_rule).toBe('policy retention: keep_last 2');
      expect(byId.get(snaps[1]!.id)!.status).toBe('forgotten');
      expect(byId.get(snaps[3]!.id)!.status).toBe('complete');
      const kinds = cat.listRuns('test', {}).map((r) => r.kind);
      expect(kinds).toContain('forget');
      expect(kinds).toContain('prune');
    } finally {
      cat.close();
    }
    const repo = await openRepo(join(work, 'usb'), 'usb');
    const { records } = await readJournal(repo);
    const forget = records.find((r) => r.kind === 'forget')!;
    expect(forget).toBeDefined();
    expect((forget.details!.forgotten as { id: string }[]).map((x) => x.id).sort()).toEqual([snaps[0]!.id, snaps[1]!.id].sort());
    expect(forget.details!.rule).toBe('policy retention: keep_last 2');
    const prune = records.find((r) => r.kind === 'prune')!;
    expect(prune.details!.bytesFreed as number).toBeGreaterThanOrEqual(2 * UNIQUE);
  });

  it('a target retention overrides the policy one (forget --prune in one go)', () => {
    const p2 = writeLocalPolicy(work, {
      name: 'test',
      sources: [src],
      extra: 'retention:\n  keep_last: 2\n',
      targets: { nas: { path: join(work, 'nas'), media: 'nas' }, usb: { path: join(work, 'usb'), media: 'removable', offsite: true } },
    });
    // Rewrite with an override for usb only.
    writeFileSync(p2, readFileSync(p2, 'utf8').replace(/(  usb:\n(?:    .*\n)*)/, '$1    retention: {keep_last: 1}\n'));
    const r = triad(['forget', '-p', p2, '--prune', '--unindexed-grace', '0', '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const usb = out.targets.find((t: { target: string }) => t.target === 'usb');
    const nas = out.targets.find((t: { target: string }) => t.target === 'nas');
    expect(usb.retentionSource).toBe('target');
    expect(usb.removed).toEqual([snaps[2]!.id]);
    expect(usb.prune.ok).toBe(true);
    expect(usb.prune.bytesFreed).toBeGreaterThanOrEqual(UNIQUE);
    expect(nas.removed).toEqual([]);
    const c = triad(['check', '-p', p2, '--target', 'usb', '--read-data', '--json'], { env: PASS });
    expect(c.code, c.stdout).toBe(0);
  });
});

describe('forget refuses a policy without retention rules', () => {
  it('exits 2 and changes nothing', () => {
    const dir = tempDir();
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a'), 'a');
    const policy = writeLocalPolicy(dir, { sources: [src] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    const r = triad(['forget', '-p', policy], { env: PASS });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('has no retention rule');
    expect(filesUnder(join(dir, 'nas', 'snapshots')).size).toBe(1);
  });
});
