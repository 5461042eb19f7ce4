import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { targetFromUrl } from '../../src/app/repo-url.js';
import { openCatalog } from '../../src/catalog/catalog.js';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';

describe('repository URLs for catalog rebuild --repo', () => {
  const env = { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret', AZURE_STORAGE_CONNECTION_STRING: 'cs', GOOGLE_CLOUD_PROJECT: 'proj' };
  it.each([
    ['s3://bucket/finance', { type: 's3', bucket: 'bucket', prefix: 'finance/', credentials_env: { access_key_id: 'AWS_ACCESS_KEY_ID', secret_access_key: 'AWS_SECRET_ACCESS_KEY' } }],
    ['s3://bucket', { type: 's3', bucket: 'bucket', prefix: '' }],
    ['azure://container/a/b/', { type: 'azure', container: 'container', prefix: 'a/b/', connection_string_env: 'AZURE_STORAGE_CONNECTION_STRING' }],
    ['gcs://bkt/p', { type: 'gcs', bucket: 'bkt', prefix: 'p/', project_id: 'proj' }],
    ['gs://bkt/p', { type: 'gcs', bucket: 'bkt', prefix: 'p/' }],
    ['relative/dir', { type: 'local', path: '/base/relative/dir' }],
    ['file:///mnt/usb/triad', { type: 'local', path: '/mnt/usb/triad' }],
  ])('%s', (url, expected) => {
    expect(targetFromUrl({ url }, { env, cwd: '/base' })).toMatchObject(expected);
  });
  it('refuses unknown schemes and credentials in the URL, without echoing them', () => {
    expect(() => targetFromUrl({ url: 'ftp://host/x' }, { env, cwd: '/' })).toThrow(/unknown scheme/);
    let msg = '';
    try {
      targetFromUrl({ url: 's3://user:hunter2@bucket/x' }, { env, cwd: '/' });
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/credentials/);
    expect(msg).not.toContain('hunter2');
  });
});

describe('catalog verify lists drift', () => {
  it('finds a snapshot missing from the catalogue, a wrong presence and missing pack rows; rebuild repairs them', () => {
    const dir = tempDir();
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'f.txt'), 'one\n');
    const policy = writeLocalPolicy(dir, { sources: [src] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    writeFileSync(join(src, 'g.txt'), 'two\n');
    const second = JSON.parse(triad(['backup', '-p', policy, '--json'], { env: PASS }).stdout).snapshot as string;
    expect(triad(['catalog', 'verify', '-p', policy], { env: PASS }).code).toBe(0);

    const cat = openCatalog(join(dir, 'catalog.db'));
    const first = cat.listSnapshots('test')[0]!.id;
    cat.deleteSnapshot(second);
    cat.setPresence(first, 'usb', { status: 'missing', at: '2030-01-01T00:00:00Z' });
    const packs = [...cat.iteratePackIds('test', 'nas')];
    cat.removePacks('test', 'nas', packs.slice(0, 1));
    cat.close();

    const r = triad(['catalog', 'verify', '-p', policy, '--json'], { env: PASS });
    expect(r.code).toBe(1);
    const kinds = JSON.parse(r.stdout).targets.flatMap((t: { drift: { kind: string; target: string; id: string }[] }) => t.drift.map((d) => `${d.target}:${d.kind}:${d.id}`)).sort();
    expect(kinds).toEqual(
      [`nas:snapshot-not-in-catalogue:${second}`, `usb:snapshot-not-in-catalogue:${second}`, `usb:presence-wrong:${first}`, `nas:pack-not-in-catalogue:${packs[0]}`].sort(),
    );

    for (const t of ['nas', 'usb']) expect(triad(['catalog', 'rebuild', '-p', policy, '--target', t], { env: PASS }).code).toBe(0);
    const fixed = triad(['catalog', 'verify', '-p', policy, '--json'], { env: PASS });
    expect(fixed.code, fixed.stdout).toBe(0);
    // The runs the backups recorded themselves are recognised, not imported a second time.
    const after = openCatalog(join(dir, 'catalog.db'), { readonly: true });
    try {
      expect(after.listRuns('test', { kind: 'backup' })).toHaveLength(2);
    } finally {
      after.close();
    }
  });
});
