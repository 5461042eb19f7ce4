import { describe, expect, it } from 'vitest';
import { evaluateRto } from '../../src/compliance/rto.js';
import { evaluateDataRule } from '../../src/compliance/rule-status.js';
import type { RestoreTestRecord, SnapshotCopy, TargetInfo, VerificationRecord } from '../../src/compliance/types.js';

const H = 3_600_000;
const D = 24 * H;
const AT = new Date('2024-03-02T00:00:00Z');
const ago = (ms: number): Date => new Date(AT.getTime() - ms);

const t = (name: string, media: string, extra: Partial<TargetInfo> = {}): TargetInfo => ({ name, media, offsite: false, immutable: false, offline: false, ...extra });
const nas = t('nas', 'nas');
const nas2 = t('nas2', 'nas');
const cloud = t('cloud', 'object-storage', { offsite: true });
const locked = t('locked', 'object-storage', { offsite: true, immutable: true });
const usb = t('usb', 'removable', { offline: true });
const tape = t('tape', 'tape', { offline: true });
const failing = t('failing', 'disk');

const snap = (target: string, rpAgo: number, opts: { bytes?: number; partial?: boolean; doneAgo?: number } = {}): SnapshotCopy => ({
  snapshotId: `${target}-${rpAgo}`,
  target,
  recoveryPoint: ago(rpAgo),
  completedAt: ago(opts.doneAgo ?? rpAgo - 60_000),
  bytes: opts.bytes ?? 36e9,
  partial: opts.partial ?? false,
});
const test = (target: string, atAgo: number, bytes: number, transferMs: number, overheadMs: number, ok = true): RestoreTestRecord => ({
  at: ago(atAgo), target, ok, files: 10, bytes, overheadMs, transferMs, failures: ok ? 0 : 2,
});

describe('evaluateRto', () => {
  const snapshots = ['nas', 'cloud', 'usb', 'failing'].map((x) => snap(x, 2 * H));
  const tests = [
    test('nas', 20 * D, 1e9, 100_000, 600_000), // older and slower: must be ignored
    test('nas', 2 * D, 1e9, 10_000, 60_000), // 100 MB/s
    test('cloud', 40 * D, 1e9, 500_000, 120_000), // 2 MB/s, older than `every`
    test('failing', 1 * D, 1e9, 1_000, 1_000, false),
  ];
  const input = { rtoMs: 2 * H, restoreEveryMs: 30 * D, targets: [nas, cloud, usb, tape, failing], snapshots, restoreTests: tests, at: AT };

  it.each([
    // target, estimate ms, verdict, evidence
    ['nas', 60_000 + 360_000, 'met', 'fresh'], // 60 s + 36e9 B ÷ 1e5 B/ms
    ['cloud', 120_000 + 18_000_000, 'exceeded', 'stale'], // 120 s + 36e9 B ÷ 2e3 B/ms
    ['usb', null, 'no-evidence', 'none'],
    ['tape', null, 'no-snapshot', 'none'],
    ['failing', 1_000 + 36_000, 'failed-test', 'fresh'],
  ] as const)('%s: estimate %s, %s, %s evidence', (name, estimate, verdict, evidence) => {
    const r = evaluateRto(input).targets.find((x) => x.target === name)!;
    expect(r.estimateMs).toBe(estimate);
    expect(r.verdict).toBe(verdict);
    expect(r.evidence).toBe(evidence);
  });

  it('the fastest passing target decides; a failed test never counts as fastest', () => {
    const r = evaluateRto(input);
    expect(r.fastest).toEqual({ target: 'nas', estimateMs: 420_000, evidence: 'fresh' });
    expect(r.verdict).toBe('met');
    expect(r.stale).toBe(false);
    expect(r.targets[0]!.lastTest!.throughputBytesPerSec).toBe(1e8);
  });

  it.each([
    ['only a slow, stale target', { restoreTests: tests.filter((x) => x.target === 'cloud') }, 'exceeded', true],
    ['no restore test', { restoreTests: [] }, 'no-evidence', false],
    ['no RTO', { rtoMs: null }, 'off', false],
    ['fresh evidence older than a shorter interval', { restoreEveryMs: 1 * D }, 'met', true],
  ] as const)('%s → %s', (_name, patch, verdict, stale) => {
    const r = evaluateRto({ ...input, ...patch });
    expect(r.verdict).toBe(verdict);
    expect(r.stale).toBe(stale);
  });
});

describe('evaluateDataRule', () => {
  const fresh = (x: string, extra: { partial?: boolean } = {}) => snap(x, 1 * H, extra);
  const stale = (x: string) => snap(x, 6 * H);
  const ok = (x: string, errors = 0): VerificationRecord => ({ target: x, at: ago(D), errors });
  const cases: {
    name: string;
    rule: '3-2-1' | '3-2-1-1-0' | 'none';
    targets: TargetInfo[];
    snaps: SnapshotCopy[];
    checks?: VerificationRecord[];
    data: 'met' | 'violated' | 'off';
    copies: number;
    shortfall?: RegExp;
  }[] = [
    { name: 'nas + cloud fresh', rule: '3-2-1', targets: [nas, cloud], snaps: [fresh('nas'), fresh('cloud')], data: 'met', copies: 3 },
    { name: 'cloud older than the RPO stops counting', rule: '3-2-1', targets: [nas, cloud], snaps: [fresh('nas'), stale('cloud')], data: 'violated', copies: 2, shortfall: /off-site/ },
    { name: 'two on-site NAS copies', rule: '3-2-1', targets: [nas, nas2], snaps: [fresh('nas'), fresh('nas2')], data: 'violated', copies: 3, shortfall: /no fresh off-site/ },
    { name: 'a partial snapshot is not a copy', rule: '3-2-1', targets: [nas, cloud], snaps: [fresh('nas'), fresh('cloud', { partial: true })], data: 'violated', copies: 2 },
    { name: 'a snapshot completing after now does not count', rule: '3-2-1', targets: [nas, cloud], snaps: [fresh('nas'), snap('cloud', 1 * H, { doneAgo: -H })], data: 'violated', copies: 2 },
    { name: '3-2-1-1-0 with an immutable fresh copy and clean checks', rule: '3-2-1-1-0', targets: [nas, locked], snaps: [fresh('nas'), fresh('locked')], checks: [ok('nas'), ok('locked')], data: 'met', copies: 3 },
    { name: '3-2-1-1-0 with errors in the latest check', rule: '3-2-1-1-0', targets: [nas, locked], snaps: [fresh('nas'), fresh('locked')], checks: [ok('nas', 2), ok('locked')], data: 'violated', copies: 3, shortfall: /2 error/ },
    { name: '3-2-1-1-0 with an offline copy (not immutable)', rule: '3-2-1-1-0', targets: [nas, cloud, usb], snaps: [fresh('nas'), fresh('cloud'), fresh('usb')], checks: [ok('nas'), ok('cloud'), ok('usb')], data: 'met', copies: 4 },
    { name: '3-2-1-1-0 whose immutable copy is stale', rule: '3-2-1-1-0', targets: [nas, locked], snaps: [fresh('nas'), stale('locked')], checks: [ok('nas'), ok('locked')], data: 'violated', copies: 2, shortfall: /immutable/ },
    { name: '3-2-1-1-0 without any verification on record', rule: '3-2-1-1-0', targets: [nas, locked], snaps: [fresh('nas'), fresh('locked')], data: 'violated', copies: 3, shortfall: /no verification/ },
    { name: "rule 'none'", rule: 'none', targets: [nas], snaps: [], data: 'off', copies: 1 },
  ];
  it.each(cases)('$name → $data', (c) => {
    const r = evaluateDataRule({ productionMedia: 'disk', rule: c.rule, targets: c.targets, snapshots: c.snaps, verifications: c.checks ?? [], rpoMs: 4 * H, at: AT });
    expect(r.data).toBe(c.data);
    expect(r.copies).toBe(c.copies);
    if (c.shortfall) expect(r.shortfalls.join('; ')).toMatch(c.shortfall);
    if (c.data === 'met') expect(r.shortfalls).toEqual([]);
  });

  it('reports why each target counts or not, and the configured verdict separately', () => {
    const r = evaluateDataRule({ productionMedia: 'disk', rule: '3-2-1', targets: [nas, cloud, usb], snapshots: [fresh('nas'), stale('cloud'), fresh('usb', { partial: true })], verifications: [], rpoMs: 4 * H, at: AT });
    expect(r.targets.map((x) => [x.target, x.reason])).toEqual([['nas', 'ok'], ['cloud', 'stale'], ['usb', 'partial-only']]);
    expect(r.configured).toBe('met');
    expect(evaluateDataRule({ productionMedia: 'disk', rule: '3-2-1', targets: [nas, nas2], snapshots: [], verifications: [], rpoMs: 4 * H, at: AT }).configured).toBe('violated');
  });
});
