import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isTriadError } from '../../src/core/errors.js';
import { loadPolicy, parsePolicyText, policyProblems, type PolicyProblem } from '../../src/policy/load.js';
import { evaluateRule } from '../../src/policy/rule.js';

const root = path.resolve(import.meta.dirname, '../..');
const policiesDir = path.join(root, 'policies');
const badDir = path.join(root, 'fixtures/policies/bad');
const tmp = mkdtempSync(path.join(tmpdir(), 'triad-policy-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function problemsOf(fn: () => unknown): PolicyProblem[] {
  try {
    fn();
  } catch (err) {
    const problems = policyProblems(err);
    if (problems) return problems;
    throw err;
  }
  throw new Error('expected E_POLICY_INVALID, but the policy loaded');
}

async function problemsOfFile(file: string, env: Record<string, string> = {}): Promise<{ problems: PolicyProblem[]; message: string }> {
  try {
    await loadPolicy(file, { env });
  } catch (err) {
    const problems = policyProblems(err);
    if (problems && err instanceof Error) return { problems, message: err.message };
    throw err;
  }
  throw new Error(`expected ${file} to be invalid`);
}

const VALID = `version: 1
policy: ok
sources:
  - path: data
encryption:
  passphrase_env: TRIAD_PASSPHRASE
targets:
  nas:
    type: local
    path: ../nas
    media: nas
  cloud:
    type: s3
    bucket: acme-backups
    media: object-storage
    offsite: true
`;

describe('shipped policies', () => {
  const files = readdirSync(policiesDir).filter((f) => f.endsWith('.yaml'));

  it('there are the four shipped policies', () => {
    expect(files.sort()).toEqual(['demo.yaml', 'fileserver-s3.yaml', 'postgres-azure.yaml', 'workstations-gcs.yaml']);
  });

  it.each(files)('%s loads with an empty environment and passes its rule', async (f) => {
    const policy = await loadPolicy(path.join(policiesDir, f), { env: {} });
    expect(policy.encryption?.passphrase).toBeDefined();
    expect(evaluateRule(policy).verdict).toBe('pass');
  });

  it('demo.yaml resolves its paths against the policies directory', async () => {
    const p = await loadPolicy(path.join(policiesDir, 'demo.yaml'), { env: {} });
    expect(p.name).toBe('demo');
    expect(p.sources[0]!.path).toBe(path.join(root, 'fixtures/demo-data'));
    expect(p.catalog).toBe(path.join(root, '.demo/catalog.db'));
    expect(p.targets.map((t) => [t.name, t.type, t.media, t.offsite])).toEqual([
      ['nas', 'local', 'nas', false],
      ['offsite', 'local', 'removable', true],
    ]);
    expect(p.targets[1]!.type === 'local' && p.targets[1]!.path).toBe(path.join(root, '.demo/offsite'));
    expect(p.encryption).toEqual({ passphrase: { env: 'TRIAD_DEMO_PASSPHRASE' } });
    expect(p.objectives).toEqual({ rpo: 4 * 3600_000, rto: 2 * 3600_000, window: 30 * 86_400_000 });
    expect(p.rule).toBe('3-2-1');
  });
});

/** One defect per file: the line (1-based, including the file's comment line), the field path and a message fragment. */
const BAD: [file: string, line: number, path: string, fragment: string][] = [
  ['unknown-key-typo', 24, 'retension', 'did you mean `retention`?'],
  ['unknown-key-in-target', 19, 'targets.cloud.offiste', 'did you mean `offsite`?'],
  ['duplicate-key', 22, 'objectives.rpo', 'duplicate key `rpo` (first defined at line 21)'],
  ['tab-indent', 11, 'targets.nas.path', 'tab character in indentation'],
  ['yaml-syntax', 24, '', 'YAML syntax error'],
  ['wrong-type', 13, 'targets.nas.offsite', 'expected true or false, found "yes"'],
  ['missing-required', 14, 'targets.cloud.bucket', 'missing required field `bucket`'],
  ['bad-duration', 21, 'objectives.rpo', 'invalid duration "4 hours"'],
  ['bad-size', 27, 'restore_test.bytes', 'invalid size "2 gigs"'],
  ['bad-percent', 27, 'restore_test.sample', 'percentage 150% is out of range'],
  ['bad-cron', 23, 'schedule.backup', 'invalid cron expression'],
  ['bad-policy-name', 3, 'policy', 'invalid policy name'],
  ['unknown-target-type', 15, 'targets.cloud.type', 'unknown target type "s4" (did you mean `s3`?)'],
  ['bad-target-name', 14, 'targets["Cloud Bucket"]', 'invalid target name `Cloud Bucket`'],
  ['offsite-unencrypted', 17, 'targets.cloud.offsite', 'target `cloud` is off-site and must be encrypted'],
  ['missing-encryption', 1, 'encryption', 'missing required section `encryption`'],
  ['inline-passphrase', 7, 'encryption.passphrase', 'inline secret `passphrase`'],
  ['inline-s3-secret', 18, 'targets.cloud.secret_access_key', 'inline secret `secret_access_key`'],
  ['inline-azure-connection-string', 17, 'targets.cloud.connection_string', 'use connection_string_env'],
  ['literal-in-credentials-env', 18, 'targets.cloud.credentials_env.secret_access_key', 'must be the name of an environment variable'],
  ['version-2', 2, 'version', 'unsupported policy version 2'],
  ['two-passphrase-sources', 6, 'encryption', 'more than one passphrase source (passphrase_env, passphrase_file)'],
  ['unset-env-var', 16, 'targets.cloud.bucket', 'environment variable TRIAD_TEST_UNSET_BUCKET is not set'],
  ['object-lock-not-immutable', 20, 'targets.cloud.object_lock', 'needs `immutable: true`'],
  ['bad-timezone', 4, 'timezone', 'unknown time zone'],
  ['bad-url', 27, 'notify.webhook', 'expected an http:// or https:// URL'],
  ['bad-rule', 20, 'rule', 'did you mean `3-2-1`?'],
  ['bad-rate', 20, 'targets.cloud.upload_limit', 'invalid rate "fast"'],
  ['negative-retention', 25, 'retention.keep_daily', 'must be 0 or more'],
];

describe('broken policies: exactly one located problem each', () => {
  it('every file in fixtures/policies/bad is in the table', () => {
    const onDisk = readdirSync(badDir).map((f) => f.replace(/\.yaml$/, '')).sort();
    expect(onDisk).toEqual(BAD.map((b) => b[0]).sort());
    expect(onDisk.length).toBeGreaterThanOrEqual(18);
  });

  it.each(BAD)('%s → line %d, %s', async (name, line, fieldPath, fragment) => {
    const file = path.join(badDir, `${name}.yaml`);
    const { problems, message } = await problemsOfFile(file);
    expect(problems).toHaveLength(1);
    const p = problems[0]!;
    expect(p).toMatchObject({ file, line, path: fieldPath });
    expect(p.column).toBeGreaterThanOrEqual(1);
    expect(p.message).toContain(fragment);
    expect(message).toBe(`${file}:${p.line}:${p.column}: ${fieldPath ? `${fieldPath}: ` : ''}${p.message}`);
  });

  it('the error is E_POLICY_INVALID with exit code 2 and a hint', async () => {
    await expect(loadPolicy(path.join(badDir, 'bad-cron.yaml'), { env: {} })).rejects.toSatisfy(
      (e: unknown) => isTriadError(e, 'E_POLICY_INVALID') && e.exitCode === 2 && typeof e.hint === 'string' && e.hint.length > 0,
    );
  });

  it('inline and literal secrets are never echoed in problems or messages', async () => {
    const secrets: [string, string][] = [
      ['inline-passphrase', 'correct-horse-battery-staple'],
      ['inline-s3-secret', 'wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY'],
      ['inline-azure-connection-string', 'c2VjcmV0c2VjcmV0'],
      ['literal-in-credentials-env', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCY'],
    ];
    for (const [name, secret] of secrets) {
      const { problems, message } = await problemsOfFile(path.join(badDir, `${name}.yaml`));
      expect(JSON.stringify(problems)).not.toContain(secret);
      expect(message).not.toContain(secret);
    }
  });

  it('wrong values carry what was expected and what was found', async () => {
    const { problems } = await problemsOfFile(path.join(badDir, 'bad-duration.yaml'));
    expect(problems[0]).toMatchObject({ expected: expect.stringContaining('15m'), found: '"4 hours"' });
  });
});

describe('parsePolicyText', () => {
  const file = path.join(tmp, 'p.yaml');

  it('reports every problem of a file at once, sorted by line', () => {
    const text = VALID.replace('policy: ok', 'policy: OK!').replace('media: nas', 'media: nas\n    offsite: maybe').concat('retension: {keep_last: 3}\nschedule: {backup: "daily"}\n');
    const problems = problemsOf(() => parsePolicyText(text, file, { env: {} }));
    expect(problems.map((p) => [p.line, p.path])).toEqual([
      [2, 'policy'],
      [12, 'targets.nas.offsite'],
      [18, 'retension'],
      [19, 'schedule.backup'],
    ]);
  });

  it('fills the defaults', () => {
    const p = parsePolicyText(VALID, file, { env: {} });
    expect(p.rule).toBe('3-2-1');
    expect(p.timezone).toBe('UTC');
    expect(p.compression).toBe('auto');
    expect(p.objectives).toEqual({ window: 30 * 86_400_000 });
    expect(p.restore_test).toEqual({ sample: { kind: 'percent', value: 5 }, every: 30 * 86_400_000 });
    expect(p.hooks).toEqual({ before: [], after: [], on_failure: [] });
    expect(p.sources).toEqual([{ path: path.join(tmp, 'data'), exclude: [], exclude_caches: false, exclude_if_present: [], cross_filesystems: false }]);
    const [nas, cloud] = p.targets;
    expect(nas).toMatchObject({ name: 'nas', offsite: false, immutable: false, offline: false, upload_limit: 0, path: path.resolve(tmp, '../nas') });
    expect(cloud).toMatchObject({ name: 'cloud', type: 's3', prefix: '', checksums: 'when_supported', force_path_style: false, offsite: true });
  });

  it('normalises units, prefixes, hooks and the sample forms', () => {
    const text = VALID.replace('    bucket: acme-backups', '    bucket: acme-backups\n    prefix: /finance\n    endpoint: http://127.0.0.1:9000\n    upload_limit: 10MiB/s').concat(
      'hooks:\n  before: ["pg_dump db > /tmp/x", {run: "sync", timeout: 2m}]\nrestore_test: {sample: {bytes: 2GiB}, every: 2w, max_bytes: 10GiB}\nretention: {keep_within: 7d, keep_last: 3}\n',
    );
    const p = parsePolicyText(text, file, { env: {} });
    const cloud = p.targets[1]!;
    expect(cloud.type === 's3' && [cloud.prefix, cloud.force_path_style, cloud.endpoint]).toEqual(['finance/', true, 'http://127.0.0.1:9000']);
    expect(cloud.upload_limit).toBe(10 * 1024 * 1024);
    expect(p.hooks.before).toEqual([
      { run: 'pg_dump db > /tmp/x', timeout: 15 * 60_000, jobs: ['backup'] },
      { run: 'sync', timeout: 2 * 60_000, jobs: ['backup'] },
    ]);
    expect(p.restore_test).toEqual({ sample: { kind: 'bytes', value: 2 * 1024 ** 3 }, every: 14 * 86_400_000, max_bytes: 10 * 1024 ** 3 });
    expect(p.retention).toEqual({ keep_within: 7 * 86_400_000, keep_last: 3 });
    const files = parsePolicyText(VALID + 'restore_test: {files: 200}\n', file, { env: {} });
    expect(files.restore_test.sample).toEqual({ kind: 'files', value: 200 });
  });

  it('interpolates ${VAR} in plain strings, with defaults and $${ escapes, but not in hooks', () => {
    const text = VALID.replace('bucket: acme-backups', 'bucket: ${BUCKET}')
      .replace('policy: ok', () => 'policy: ok\ndescription: "cost $${USD} for ${TEAM:-ops}"')
      .concat('hooks:\n  before: [{run: "tar cf ${OUT} /etc"}]\n');
    const p = parsePolicyText(text, file, { env: { BUCKET: 'from-env-bucket' } });
    expect(p.targets[1]!.type === 's3' && p.targets[1]!.bucket).toBe('from-env-bucket');
    expect(p.description).toBe('cost ${USD} for ops');
    expect(p.hooks.before[0]!.run).toBe('tar cf ${OUT} /etc');
  });

  it('locates an unset variable at its column', () => {
    const problems = problemsOf(() => parsePolicyText(VALID.replace('path: data', 'path: /srv/${SITE}/data'), file, { env: {} }));
    expect(problems).toEqual([expect.objectContaining({ line: 4, column: 16, path: 'sources[0].path' })]);
  });

  it('requires offsite explicitly on a cloud target with a custom endpoint', () => {
    const text = VALID.replace('    offsite: true\n', '    endpoint: http://minio.local:9000\n');
    const problems = problemsOf(() => parsePolicyText(text, file, { env: {} }));
    expect(problems).toEqual([expect.objectContaining({ path: 'targets.cloud.offsite', message: expect.stringContaining('missing required field `offsite`') })]);
  });

  it('suggests where a key belongs when it is at the wrong level', () => {
    const problems = problemsOf(() => parsePolicyText(VALID + 'rpo: 4h\n', file, { env: {} }));
    expect(problems[0]!.message).toContain('`rpo` belongs under `objectives`');
  });

  it('says which target type a misplaced field belongs to', () => {
    const problems = problemsOf(() => parsePolicyText(VALID.replace('bucket: acme-backups', 'bucket: acme-backups\n    container: x'), file, { env: {} }));
    expect(problems[0]!.message).toContain('`container` is a field of azure targets');
  });

  it('refuses an empty file and a non-mapping top level', () => {
    expect(problemsOf(() => parsePolicyText('', file, { env: {} }))[0]!.message).toContain('empty');
    expect(problemsOf(() => parsePolicyText('- a\n- b\n', file, { env: {} }))[0]!.message).toContain('top level must be a mapping');
  });

  it('supports anchors, aliases and merge keys', () => {
    const text = VALID.replace('targets:', 'x-common: &c {media: nas}\ntargets:').replace('    media: nas\n', '    <<: *c\n');
    // x-common is not a policy key: the alias target must still be refused as unknown
    const problems = problemsOf(() => parsePolicyText(text, file, { env: {} }));
    expect(problems.map((p) => p.path)).toEqual(['x-common']);
    const ok = parsePolicyText(VALID.replace('retention', 'x').concat('retention: &r {keep_last: 3}\n'), file, { env: {} });
    expect(ok.retention).toEqual({ keep_last: 3 });
  });

  it('anchors shared by many sources stay within the alias bound', () => {
    const sources = Array.from({ length: 300 }, (_, i) => `  - {path: data${i}, exclude: *common}`).join('\n');
    const text = VALID.replace('sources:\n  - path: data\n', `x-excludes: &common ["*.tmp", "cache/"]\nsources:\n${sources}\n`);
    const problems = problemsOf(() => parsePolicyText(text, file, { env: {} }));
    // Only the helper key is refused: 300 expansions of the shared list are accepted.
    expect(problems.map((p) => p.path)).toEqual(['x-excludes']);
  });

  it('loadPolicy reports a missing file as E_POLICY_NOT_FOUND', async () => {
    await expect(loadPolicy(path.join(tmp, 'nope.yaml'), { env: {} })).rejects.toSatisfy((e: unknown) => isTriadError(e, 'E_POLICY_NOT_FOUND') && e.exitCode === 2);
  });

  it('loadPolicy resolves paths against the file, not the working directory', async () => {
    const dir = path.join(tmp, 'etc');
    rmSync(dir, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(dir));
    writeFileSync(path.join(dir, 'p.yaml'), VALID);
    const p = await loadPolicy(path.join(dir, 'p.yaml'), { env: {} });
    expect(p.file).toBe(path.join(dir, 'p.yaml'));
    expect(p.sources[0]!.path).toBe(path.join(dir, 'data'));
  });
});
