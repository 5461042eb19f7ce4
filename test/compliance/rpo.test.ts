import { describe, expect, it } from 'vitest';
import { evaluateRpo, exposureAt, meetsRpoAt, type RpoInput } from '../../src/compliance/rpo.js';
import type { SnapshotCopy, TargetInfo } from '../../src/compliance/types.js';

const H = 3_600_000;
const T0 = Date.parse('2024-03-01T00:00:00Z');
const h = (x: number): Date => new Date(T0 + x * H);

const nas: TargetInfo = { name: 'nas', media: 'nas', offsite: false, immutable: false, offline: false };
const cloud: TargetInfo = { name: 'cloud', media: 'object-storage', offsite: true, immutable: false, offline: false };
const usb: TargetInfo = { name: 'usb', media: 'removable', offsite: false, immutable: false, offline: true };

let n = 0;
const snap = (target: string, rp: number, done: number, partial = false): SnapshotCopy => ({
  snapshotId: `s${++n}`,
  target,
  recoveryPoint: h(rp),
  completedAt: h(done),
  bytes: 1000,
  partial,
});

// Hours from T0. nas has a gap after its 8h snapshot; cloud uploads complete late, and one
// started at 6h completes at 11h, after the 8h one: it must not lower the recovery point.
// usb never had a snapshot.
const snapshots: SnapshotCopy[] = [
  snap('nas', 0, 0.5),
  snap('nas', 4, 4.5),
  snap('nas', 8, 8.5),
  snap('nas', 20, 20.5),
  snap('cloud', 0, 2),
  snap('cloud', 4, 9),
  snap('cloud', 8, 10),
  snap('cloud', 6, 11),
  snap('cloud', 16, 17),
  snap('cloud', 21, 23),
];

const base: RpoInput = {
  rule: '3-2-1',
  productionMedia: 'disk',
  rpoMs: 4 * H,
  targets: [nas, cloud, usb],
  snapshots,
  firstScheduledAt: h(0),
  at: h(24),
  windowMs: 24 * H,
};

const ranges = (ev: ReturnType<typeof evaluateRpo>, scope: string): [number, number | null][] =>
  ev.breaches.filter((b) => b.scope === scope).map((b) => [(b.start.getTime() - T0) / H, b.end === null ? null : (b.end.getTime() - T0) / H]);

describe('evaluateRpo over a 24h window, RPO 4h, rule 3-2-1', () => {
  const ev = evaluateRpo(base);
  const t = (name: string) => ev.targets.find((x) => x.target === name)!;

  it.each([
    // target, breach intervals (hours), within hours, worst exposure (h), exposure now (h)
    ['nas', [[0, 0.5], [4, 4.5], [8, 8.5], [12, 20.5]], 14, 12.5, 4],
    ['cloud', [[0, 2], [4, 10], [12, 17], [20, 23]], 8, 9, 3],
    ['usb', [[0, null]], 0, 24, 24],
  ] as const)('%s: breaches, %% within, worst and current exposure', (name, breaches, withinH, worstH, nowH) => {
    expect(ranges(ev, name)).toEqual(breaches);
    expect(t(name).window.withinMs).toBe(withinH * H);
    expect(t(name).window.evaluatedMs).toBe(24 * H);
    expect(t(name).window.percentWithin).toBeCloseTo((withinH / 24) * 100, 9);
    expect(t(name).window.worstExposureMs).toBe(worstH * H);
    expect(t(name).exposureMs).toBe(nowH * H);
  });

  it('exposure exactly equal to the RPO is within; a target without snapshot is in breach since it was due', () => {
    expect(t('nas').within).toBe(true);
    expect(t('nas').breachSince).toBeNull();
    expect(t('nas').recoveryPoint).toEqual(h(20));
    expect(t('usb').hasSnapshot).toBe(false);
    expect(t('usb').within).toBe(false);
    expect(t('usb').breachSince).toEqual(h(0));
  });

  it('the late snapshot with an older recovery point does not lower cloud’s recovery point', () => {
    expect(exposureAt(base, cloud, h(11.5)).exposureMs).toBe(3.5 * H); // RP 8h, not 6h
    expect(exposureAt(base, cloud, h(9.5)).exposureMs).toBe(5.5 * H); // the 4h snapshot counts only from 9h
    expect(exposureAt(base, cloud, h(1)).hasSnapshot).toBe(false);
  });

  it('overall needs nas and cloud both within (usb never is): union of their breaches', () => {
    expect(ranges(ev, 'overall')).toEqual([[0, 2], [4, 10], [12, 23]]);
    expect(ev.overall.window.withinMs).toBe(5 * H);
    expect(ev.overall.window.percentWithin).toBeCloseTo((5 / 24) * 100, 9);
    expect(ev.overall.exposureMs).toBe(4 * H);
    expect(ev.overall.within).toBe(true);
    expect(ev.overall.targetsWithin).toEqual(['nas', 'cloud']);
    expect(ev.overall.window.worstExposureMs).toBe(12.5 * H);
    expect(meetsRpoAt(base, h(11))).toBe(true);
    expect(meetsRpoAt(base, h(13))).toBe(false);
  });

  it('orders all breaches by start, then scope', () => {
    expect(ev.breaches.map((b) => `${b.scope}@${(b.start.getTime() - T0) / H}`)).toEqual([
      'cloud@0', 'nas@0', 'overall@0', 'usb@0', 'cloud@4', 'nas@4', 'overall@4', 'nas@8', 'cloud@12', 'nas@12', 'overall@12', 'cloud@20',
    ]);
    const ongoing = ev.breaches.filter((b) => b.end === null);
    expect(ongoing.map((b) => [b.scope, b.durationMs])).toEqual([['usb', 24 * H]]);
  });

  it('the exposure series has a drop at every completion inside the window', () => {
    const s = t('nas').series.map((p) => [(p.at.getTime() - T0) / H, p.exposureMs === null ? null : p.exposureMs / H]);
    expect(s).toEqual([[0, 0], [0.5, 0.5], [0.5, 0.5], [4.5, 4.5], [4.5, 0.5], [8.5, 4.5], [8.5, 0.5], [20.5, 12.5], [20.5, 0.5], [24, 4]]);
  });
});

describe('evaluateRpo: window clipping, rules and due times', () => {
  it('a 10h window keeps the true start of a breach that began before it', () => {
    const ev = evaluateRpo({ ...base, windowMs: 10 * H });
    const nasB = ev.breaches.filter((b) => b.scope === 'nas');
    expect(nasB).toHaveLength(1);
    expect(nasB[0]!.start).toEqual(h(12));
    expect(nasB[0]!.end).toEqual(h(20.5));
    expect(nasB[0]!.startedBeforeWindow).toBe(true);
    const nasT = ev.targets.find((x) => x.target === 'nas')!;
    expect(nasT.window.withinMs).toBe(3.5 * H); // 14–24 minus 14–20.5
    expect(nasT.window.percentWithin).toBeCloseTo(35, 9);
    expect(nasT.window.worstExposureMs).toBe(12.5 * H);
  });

  it('3-2-1-1-0 can never be met without an immutable/offline copy: overall in breach from the start', () => {
    const ev = evaluateRpo({ ...base, rule: '3-2-1-1-0' });
    expect(ev.overall.exposureMs).toBeNull();
    expect(ev.overall.within).toBe(false);
    expect(ev.overall.breachSince).toEqual(h(0));
    expect(ev.overall.window.percentWithin).toBe(0);
  });

  it("rule 'none' is within whenever any target is", () => {
    const ev = evaluateRpo({ ...base, rule: 'none' });
    // Breaches of nas ∩ cloud ∩ usb(always): [0,0.5) ∪ [4,4.5) ∪ [8,8.5) ∪ [12,17) ∪ [20,20.5)
    expect(ranges(ev, 'overall')).toEqual([[0, 0.5], [4, 4.5], [8, 8.5], [12, 17], [20, 20.5]]);
    expect(ev.overall.window.withinMs).toBe((24 - 0.5 - 0.5 - 0.5 - 5 - 0.5) * H);
    expect(ev.overall.exposureMs).toBe(3 * H);
  });

  it('a target added later is judged from its own first scheduled run', () => {
    const late: TargetInfo = { ...usb, firstScheduledAt: h(18) };
    const ev = evaluateRpo({ ...base, targets: [nas, cloud, late], snapshots: [...snapshots, snap('usb', 21, 22)] });
    const u = ev.targets.find((x) => x.target === 'usb')!;
    expect(ranges(ev, 'usb')).toEqual([[18, 22]]);
    expect(u.window.evaluatedMs).toBe(6 * H);
    expect(u.window.withinMs).toBe(2 * H);
    expect(u.exposureMs).toBe(3 * H);
  });

  it('before the first scheduled run nothing is due', () => {
    const ev = evaluateRpo({ ...base, firstScheduledAt: h(30), snapshots: [] });
    expect(ev.overall.window.percentWithin).toBeNull();
    expect(ev.overall.breachSince).toBeNull();
    expect(ev.breaches).toEqual([]);
    expect(ev.targets[0]!.exposureMs).toBeNull();
  });

  it('partial snapshots do not reset the exposure unless countPartial', () => {
    const snaps = [snap('nas', 0, 1), snap('nas', 10, 11, true)];
    expect(exposureAt({ snapshots: snaps, firstScheduledAt: h(0) }, nas, h(12)).exposureMs).toBe(12 * H);
    expect(exposureAt({ snapshots: snaps, firstScheduledAt: h(0), countPartial: true }, nas, h(12)).exposureMs).toBe(2 * H);
  });
});
