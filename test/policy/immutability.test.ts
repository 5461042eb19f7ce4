import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPolicies, immutabilityNotes, type ImmutabilityNote } from '../../src/app/policy-check.js';
import { validatePolicyText, type PolicyProblem } from '../../src/policy/load.js';
import type { AzureTarget } from '../../src/policy/types.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'triad-policy-imm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const file = path.join(tmp, 'p.yaml');

const HEAD = `version: 1
policy: imm
sources: [/srv/data]
encryption: {passphrase_env: TRIAD_PASSPHRASE}
targets:
  nas: {type: local, path: /mnt/nas, media: nas}
`;

/** An Azure target named `blob` with the given extra lines (each indented under it). */
const azurePolicy = (...extra: string[]): string =>
  HEAD + ['  blob:', '    type: azure', '    container: acme-backups', '    account: acme', '    account_key_env: AZ_KEY', ...extra.map((l) => `    ${l}`)].join('\n') + '\n';

function problems(text: string): PolicyProblem[] {
  const v = validatePolicyText(text, file, { env: {} });
  if (v.ok) throw new Error('expected the policy to be invalid');
  return v.problems;
}

describe('azure `immutability` in the policy', () => {
  it('loads {mode, days} on an immutable Azure target', () => {
    const v = validatePolicyText(azurePolicy('immutable: true', 'immutability: {mode: locked, days: 30}'), file, { env: {} });
    expect(v.ok).toBe(true);
    const t = v.ok ? (v.policy.targets.find((x) => x.name === 'blob') as AzureTarget) : undefined;
    expect(t?.immutability).toEqual({ mode: 'locked', days: 30 });
    expect(t?.immutable).toBe(true);
  });

  it('is absent from the target when not given', () => {
    const v = validatePolicyText(azurePolicy('immutable: true'), file, { env: {} });
    expect(v.ok).toBe(true);
    const t = v.ok ? (v.policy.targets.find((x) => x.name === 'blob') as AzureTarget) : undefined;
    expect(t?.type).toBe('azure');
    expect(t).not.toHaveProperty('immutability');
  });

  it('without immutable: true → one problem located at the immutability key', () => {
    const text = azurePolicy('immutability: {mode: unlocked, days: 7}');
    const ps = problems(text);
    expect(ps).toHaveLength(1);
    const line = text.split('\n').findIndex((l) => l.trimStart().startsWith('immutability:')) + 1;
    expect(ps[0]).toMatchObject({ line, column: 5, path: 'targets.blob.immutability' });
    expect(ps[0]!.message).toContain('`immutability` needs `immutable: true`');
  });

  it('with immutable: false is the same problem', () => {
    const ps = problems(azurePolicy('immutable: false', 'immutability: {mode: locked, days: 7}'));
    expect(ps.map((p) => [p.path, p.message.includes('needs `immutable: true`')])).toEqual([['targets.blob.immutability', true]]);
  });

  it.each([
    ['immutability: {mode: Locked, days: 7}', 'targets.blob.immutability.mode'],
    ['immutability: {mode: locked, days: 0}', 'targets.blob.immutability.days'],
    ['immutability: {mode: locked, days: 1.5}', 'targets.blob.immutability.days'],
    ['immutability: {mode: locked}', 'targets.blob.immutability.days'],
    ['immutability: {mode: locked, days: 7, legal_hold: true}', 'targets.blob.immutability.legal_hold'],
  ])('rejects %s at %s', (line, at) => {
    const ps = problems(azurePolicy('immutable: true', line));
    expect(ps.map((p) => p.path)).toEqual([at]);
  });

  it('is an unknown key on an S3 target (S3 uses object_lock)', () => {
    const text = HEAD + '  cloud: {type: s3, bucket: acme-backups, immutable: true, immutability: {mode: locked, days: 7}}\n';
    const ps = problems(text);
    expect(ps.map((p) => p.path)).toEqual(['targets.cloud.immutability']);
    expect(ps[0]!.message).toContain('unknown key');
  });
});

/** Every kind of immutable target (S3 Object Lock, Azure with a SAS token, GCS, a local WORM volume). */
const ALL = readFileSync(path.join(import.meta.dirname, '../../fixtures/policies/immutable-targets.yaml'), 'utf8');

function notesOf(text: string): ImmutabilityNote[] {
  const v = validatePolicyText(text, file, { env: {} });
  if (!v.ok) throw new Error(v.problems.map((p) => p.message).join('\n'));
  return immutabilityNotes(v.policy);
}

describe('immutabilityNotes: what each immutable target needs', () => {
  const notes = notesOf(ALL);
  const by = (name: string): ImmutabilityNote => {
    const n = notes.find((x) => x.target === name);
    if (!n) throw new Error(`no note for ${name}`);
    return n;
  };

  it('has one note per immutable target, in policy order, none for the mutable nas', () => {
    expect(notes.map((n) => [n.target, n.type])).toEqual([
      ['s3-lock', 's3'],
      ['blob', 'azure'],
      ['gcs', 'gcs'],
      ['vault', 'local'],
    ]);
  });

  it('S3: Object Lock at bucket creation, versioning, the mode/days sent, COMPLIANCE cannot be shortened', () => {
    const n = by('s3-lock');
    expect(n.where).toBe('s3://acme-s3');
    expect(n.triadSets).toBe('Object Lock retention on every object written: mode COMPLIANCE, 30 days from the write');
    expect(n.requirements[0]).toMatch(/^Object Lock must be enabled on bucket acme-s3: it is set when the bucket is created/);
    expect(n.requirements[1]).toMatch(/^versioning must be enabled on bucket acme-s3/);
    expect(n.requirements[2]).toMatch(/^COMPLIANCE mode cannot be shortened or removed by anyone.*30 days after it is written/);
    expect(n.requirements).toHaveLength(3);
  });

  it('S3 GOVERNANCE: warns about s3:BypassGovernanceRetention; without object_lock: triad sets nothing', () => {
    const gov = notesOf(HEAD + '  c: {type: s3, bucket: acme-s3, immutable: true, object_lock: {mode: GOVERNANCE, days: 1}}\n')[0]!;
    expect(gov.triadSets).toBe('Object Lock retention on every object written: mode GOVERNANCE, 1 day from the write');
    expect(gov.requirements[2]).toContain('s3:BypassGovernanceRetention');
    expect(gov.requirements.join('\n')).not.toContain('COMPLIANCE mode cannot');
    const none = notesOf(HEAD + '  c: {type: s3, bucket: acme-s3, immutable: true}\n')[0]!;
    expect(none.triadSets).toBeNull();
    expect(none.requirements[2]).toMatch(/^no object_lock on this target: triad sends no retention/);
  });

  it('Azure: version-level immutability support on the container/account, the mode/days sent, SAS permission', () => {
    const n = by('blob');
    expect(n.where).toBe('azure://acme/acme-blob');
    expect(n.triadSets).toBe('a blob immutability policy on every blob written: mode locked, 14 days from the write');
    expect(n.requirements[0]).toMatch(/^version-level immutability support must be enabled on container acme-blob or its storage account/);
    expect(n.requirements[1]).toMatch(/^locked mode cannot be shortened or removed, only extended.*14 days/);
    expect(n.requirements[2]).toBe('the SAS token in AZ_SAS must include the Set Immutability Policy permission (i)');
  });

  it('Azure unlocked / without immutability', () => {
    const unlocked = notesOf(azurePolicy('immutable: true', 'immutability: {mode: unlocked, days: 3}'))[0]!;
    expect(unlocked.requirements[1]).toMatch(/^unlocked mode can be shortened or deleted/);
    expect(unlocked.requirements.join('\n')).not.toContain('SAS token'); // account key, not SAS
    const none = notesOf(azurePolicy('immutable: true'))[0]!;
    expect(none.triadSets).toBeNull();
    expect(none.requirements[0]).toMatch(/^version-level immutability support must be enabled/);
    expect(none.requirements[1]).toMatch(/^no immutability on this target: triad sets no policy on the blobs/);
  });

  it('GCS: triad sets nothing; the bucket needs a retention policy or object retention', () => {
    const n = by('gcs');
    expect(n.where).toBe('gs://acme-gcs');
    expect(n.triadSets).toBeNull();
    expect(n.requirements).toEqual([
      'triad sets nothing on GCS objects: bucket acme-gcs must have a retention policy (lock it to make it permanent) or object retention (Object Retention Lock) configured by you; otherwise the copy is not immutable',
    ]);
  });

  it('local: an offline/WORM medium is the operator’s responsibility', () => {
    const n = by('vault');
    expect(n.triadSets).toBeNull();
    expect(n.requirements).toHaveLength(1);
    expect(n.requirements[0]).toMatch(/^triad sets nothing on local targets: an offline or WORM medium behind \/mnt\/worm .* is your responsibility$/);
  });

  it('checkPolicies includes the notes in each valid result ([] without immutable targets), none for invalid files', async () => {
    writeFileSync(path.join(tmp, 'all.yaml'), ALL);
    writeFileSync(path.join(tmp, 'plain.yaml'), HEAD);
    writeFileSync(path.join(tmp, 'bad.yaml'), azurePolicy('immutability: {mode: locked, days: 7}'));
    const [all, plain, bad] = await checkPolicies(['all.yaml', 'plain.yaml', 'bad.yaml'], { env: {}, cwd: tmp });
    expect(all!.immutability?.map((n) => n.target)).toEqual(['s3-lock', 'blob', 'gcs', 'vault']);
    expect(plain!.immutability).toEqual([]);
    expect(bad!.valid).toBe(false);
    expect(bad!.immutability).toBeUndefined();
  });
});
