import { describe, expect, it } from 'vitest';
import { evaluateRule, ruleRequirements, targetsNeededForRule } from '../../src/policy/rule.js';
import type { RuleName, TargetSpec } from '../../src/policy/types.js';

function local(name: string, media: string, extra: Partial<{ offsite: boolean; immutable: boolean; offline: boolean }> = {}): TargetSpec {
  return { name, type: 'local', path: `/mnt/${name}`, media, offsite: false, immutable: false, offline: false, upload_limit: 0, ...extra };
}
function s3(name: string, extra: Partial<{ offsite: boolean; immutable: boolean; media: string }> = {}): TargetSpec {
  return {
    name,
    type: 's3',
    bucket: 'b',
    prefix: '',
    checksums: 'when_supported',
    force_path_style: false,
    media: 'object-storage',
    offsite: true,
    immutable: false,
    upload_limit: 0,
    ...extra,
  };
}

type Row = [label: string, rule: RuleName, targets: TargetSpec[], verdict: 'pass' | 'fail' | 'off', failing: string[], counts: [number, number, number, number]];

/** counts: copies, media, off-site, immutable-or-offline. */
const CASES: Row[] = [
  ['NAS + S3', '3-2-1', [local('nas', 'nas'), s3('cloud')], 'pass', [], [3, 3, 1, 0]],
  ['NAS + off-site USB', '3-2-1', [local('nas', 'nas'), local('usb', 'removable', { offsite: true })], 'pass', [], [3, 3, 1, 0]],
  ['one NAS only', '3-2-1', [local('nas', 'nas')], 'fail', ['copies', 'offsite'], [2, 2, 0, 0]],
  ['two on-site disks', '3-2-1', [local('a', 'disk'), local('b', 'disk')], 'fail', ['media', 'offsite'], [3, 1, 0, 0]],
  ['NAS and cloud both declared disk', '3-2-1', [local('nas', 'disk'), s3('cloud', { media: 'disk' })], 'fail', ['media'], [3, 1, 1, 0]],
  ['no targets', '3-2-1', [], 'fail', ['copies', 'media', 'offsite'], [1, 1, 0, 0]],
  ['one S3 only', '3-2-1', [s3('cloud')], 'fail', ['copies'], [2, 2, 1, 0]],
  ['two buckets, same media', '3-2-1', [s3('a'), s3('b', { media: 'Object-Storage' })], 'pass', [], [3, 2, 2, 0]],
  ['NAS + S3 without lock under 3-2-1-1-0', '3-2-1-1-0', [local('nas', 'nas'), s3('cloud')], 'fail', ['immutable'], [3, 3, 1, 0]],
  ['NAS + locked S3 under 3-2-1-1-0', '3-2-1-1-0', [local('nas', 'nas'), s3('cloud', { immutable: true })], 'pass', [], [3, 3, 1, 1]],
  ['NAS + S3 + offline tape under 3-2-1-1-0', '3-2-1-1-0', [local('nas', 'nas'), s3('cloud'), local('tape', 'tape', { offline: true, offsite: true })], 'pass', [], [4, 4, 2, 1]],
  ['immutable but on-site only under 3-2-1-1-0', '3-2-1-1-0', [local('nas', 'nas', { immutable: true }), local('b', 'disk')], 'fail', ['offsite'], [3, 2, 0, 1]],
  ['rule none with a single target', 'none', [local('scratch', 'disk')], 'off', [], [2, 1, 0, 0]],
];

describe('evaluateRule', () => {
  it.each(CASES)('%s (%s) → %s', (_label, rule, targets, verdict, failing, [copies, media, offsite, locked]) => {
    const m = evaluateRule({ rule, targets, production: { media: 'disk' } });
    expect(m.verdict).toBe(verdict);
    expect(m.counts).toEqual({ copies, media, offsite, immutableOrOffline: locked });
    expect(m.requirements.filter((r) => r.status === 'fail').map((r) => r.id)).toEqual(failing);
    expect(m.copies[0]).toMatchObject({ name: 'production', media: 'disk', offsite: false });
    expect(m.copies).toHaveLength(targets.length + 1);
    if (verdict === 'fail') expect(m.summary).toMatch(new RegExp(`^violates ${rule}: `));
  });

  it('reports the "0 errors" part of 3-2-1-1-0 as checked at run time, never failing', () => {
    const m = evaluateRule({ rule: '3-2-1-1-0', targets: [local('nas', 'nas'), s3('cloud', { immutable: true })], production: { media: 'disk' } });
    const errors = m.requirements.find((r) => r.id === 'errors');
    expect(errors).toMatchObject({ status: 'runtime', required: null, actual: null });
    expect(errors!.reason).toContain('checked at run time');
    expect(evaluateRule({ rule: '3-2-1', targets: [], production: { media: 'disk' } }).requirements.map((r) => r.id)).toEqual(['copies', 'media', 'offsite']);
  });

  it('counts the production data on its declared medium: the same targets pass or fail by it', () => {
    const targets = [local('nas', 'nas'), s3('cloud', { media: 'nas' })];
    const onDisk = evaluateRule({ rule: '3-2-1', targets, production: { media: 'disk' } });
    expect(onDisk.verdict).toBe('pass');
    const onNas = evaluateRule({ rule: '3-2-1', targets, production: { media: 'NAS' } });
    expect(onNas.verdict).toBe('fail');
    expect(onNas.counts.media).toBe(1);
    expect(onNas.requirements.find((r) => r.id === 'media')!.reason).toContain('the production data is on nas, see production.media');
  });

  it('gives reasons that name what is missing', () => {
    const m = evaluateRule({ rule: '3-2-1', targets: [local('nas', 'nas')], production: { media: 'disk' } });
    expect(m.requirements.find((r) => r.id === 'copies')!.reason).toContain('add 1 more target');
    expect(m.requirements.find((r) => r.id === 'offsite')!.reason).toContain('offsite: true');
  });

  it('marks every requirement off for rule none', () => {
    const m = evaluateRule({ rule: 'none', targets: [], production: { media: 'disk' } });
    expect(m.required).toBeNull();
    expect(m.requirements.every((r) => r.status === 'off')).toBe(true);
  });
});

describe('rule requirements', () => {
  it('3-2-1 and 3-2-1-1-0 numbers', () => {
    expect(ruleRequirements('3-2-1')).toEqual({ copies: 3, media: 2, offsite: 1, immutableOrOffline: 0 });
    expect(ruleRequirements('3-2-1-1-0')).toEqual({ copies: 3, media: 2, offsite: 1, immutableOrOffline: 1 });
    expect(ruleRequirements('none')).toBeNull();
  });

  it('targetsNeededForRule counts production as the first copy', () => {
    expect(targetsNeededForRule('3-2-1')).toBe(2);
    expect(targetsNeededForRule('3-2-1-1-0')).toBe(2);
    expect(targetsNeededForRule('none')).toBe(0);
  });
});
