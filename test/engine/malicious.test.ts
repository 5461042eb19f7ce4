import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TreeNode } from '../../src/repo/model/tree.js';
import { craftSnapshot } from '../helpers/craft.js';
import { PASS, scratchDir, triad, writeLocalPolicy } from '../helpers/triad.js';

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };

describe('a crafted snapshot cannot write outside --to', () => {
  const work = scratchDir();
  let policy: string;
  beforeAll(() => {
    mkdirSync(join(work, 'src'));
    writeFileSync(join(work, 'src', 'f'), 'x');
    policy = writeLocalPolicy(work, { sources: [join(work, 'src')], targets: { nas: { path: join(work, 'nas'), media: 'nas', offsite: false } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const cases: [string, (Omit<TreeNode, 'content'> & { data?: string })[]][] = [
    ['parent reference', [{ ...base, name: '../escape.txt', type: 'file', size: 0, data: 'pwned' }]],
    ['dot-dot', [{ ...base, name: '..', type: 'file', size: 0, data: 'pwned' }]],
    ['absolute name', [{ ...base, name: join(work, 'abs-escape.txt'), type: 'file', size: 0, data: 'pwned' }]],
    ['slash inside a name', [{ ...base, name: 'a/../../escape2.txt', type: 'file', size: 0, data: 'pwned' }]],
    ['symlink then a directory of the same name', [
      { ...base, name: 'link', type: 'symlink', size: 0, target: work },
      { ...base, name: 'link', type: 'file', size: 0, data: 'pwned' },
    ]],
  ];

  for (const [label, nodes] of cases) {
    it(`rejects ${label}`, async () => {
      const id = await craftSnapshot(join(work, 'nas'), nodes);
      const to = join(work, 'restore', label.replace(/\W+/g, '-'));
      const r = triad(['restore', '-p', policy, id, '--to', to], { env: PASS });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/unsafe|twice/);
      expect(existsSync(join(work, 'escape.txt'))).toBe(false);
      expect(existsSync(join(work, 'restore', 'escape.txt'))).toBe(false);
      expect(existsSync(join(work, 'abs-escape.txt'))).toBe(false);
      expect(existsSync(join(work, 'escape2.txt'))).toBe(false);
      expect(readdirSync(work).sort()).toEqual(['catalog.db', 'catalog.db-shm', 'catalog.db-wal', 'nas', 'restore', 'src', 'test.yaml'].filter((f) => existsSync(join(work, f))));
    });
  }

  it('does not restore a file whose blob was stored under the id of other content, and names the blob', async () => {
    const id = await craftSnapshot(join(work, 'nas'), [
      { ...base, name: 'liar', type: 'file', size: 0, data: 'not what the id says', storedAs: 'the content the id is of' },
      { ...base, name: 'honest', type: 'file', size: 0, data: 'fine' },
    ]);
    const to = join(work, 'restore', 'stored-under-another-id');
    const r = triad(['restore', '-p', policy, id, '--to', to], { env: PASS });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/liar: blob [0-9a-f]{12} in pack [0-9a-f]{12} on target 'nas': content does not match its id/);
    expect(readdirSync(to)).toEqual(['honest']);
  });

  it('does not follow a symlink already in the restore directory (with --overwrite it is replaced by the directory)', async () => {
    const outside = join(work, 'outside');
    mkdirSync(outside, { recursive: true });
    const to = join(work, 'restore', 'pre-existing-link');
    mkdirSync(to, { recursive: true });
    const { symlinkSync } = await import('node:fs');
    symlinkSync(outside, join(to, 'dir'));
    const id = await craftSnapshot(join(work, 'nas'), [{ ...base, name: 'dir', type: 'dir', size: 0, subtree: undefined }]);
    const r = triad(['restore', '-p', policy, id, '--to', to, '--overwrite'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const { lstatSync } = await import('node:fs');
    expect(lstatSync(join(to, 'dir')).isDirectory()).toBe(true);
    expect(readdirSync(outside)).toEqual([]);
  });
});
