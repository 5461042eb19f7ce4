import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr';
import { mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, giveToUnprivileged, scratchDir, triad, triadUnprivileged, writeLocalPolicy } from '../helpers/triad.js';

// POSIX ACLs as the kernel keeps them in system.posix_acl_access / _default (linux/posix_acl_xattr.h):
// a version word, then (tag, permissions, id) entries sorted by tag and id.
const ACL_USER_OBJ = 0x01;
const ACL_USER = 0x02;
const ACL_GROUP_OBJ = 0x04;
const ACL_MASK = 0x10;
const ACL_OTHER = 0x20;
const NO_ID = 0xffffffff;
const NOBODY = 65534;

function acl(entries: [tag: number, perm: number, id: number][]): Buffer {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + 8 * i);
    b.writeUInt16LE(perm, 6 + 8 * i);
    b.writeUInt32LE(id, 8 + 8 * i);
  });
  return b;
}

/** user::rw- user:nobody:r-- group::r-- mask::r-- other::--- */
const FILE_ACL = acl([[ACL_USER_OBJ, 6, NO_ID], [ACL_USER, 4, NOBODY], [ACL_GROUP_OBJ, 4, NO_ID], [ACL_MASK, 4, NO_ID], [ACL_OTHER, 0, NO_ID]]);
/** user::rwx user:nobody:r-x group::r-x mask::r-x other::--- */
const DIR_DEFAULT_ACL = acl([[ACL_USER_OBJ, 7, NO_ID], [ACL_USER, 5, NOBODY], [ACL_GROUP_OBJ, 5, NO_ID], [ACL_MASK, 5, NO_ID], [ACL_OTHER, 0, NO_ID]]);

/** Every attribute of the entry itself, name → hex value (the l* calls: a symlink is not followed). */
function attributes(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of listAttributesSync(path).sort()) out[name] = getAttributeSync(path, name)!.toString('hex');
  return out;
}

describe('extended attributes and POSIX ACLs (CLI as a subprocess)', () => {
  const work = scratchDir();
  const src = join(work, 'src');
  let policy: string;

  beforeAll(() => {
    mkdirSync(join(src, 'shared'), { recursive: true });
    writeFileSync(join(src, 'plain'), 'no attributes');
    writeFileSync(join(src, 'tagged'), 'with attributes', { mode: 0o640 });
    setAttributeSync(join(src, 'tagged'), 'user.origin', Buffer.from('scanner-3'));
    setAttributeSync(join(src, 'tagged'), 'user.binary', Buffer.of(0, 0xff, 0x80, 10));
    setAttributeSync(join(src, 'tagged'), 'trusted.audit', Buffer.from('root only'));
    setAttributeSync(join(src, 'tagged'), 'system.posix_acl_access', FILE_ACL);
    setAttributeSync(join(src, 'shared'), 'system.posix_acl_default', DIR_DEFAULT_ACL);
    setAttributeSync(join(src, 'shared'), 'user.dir', Buffer.from('on a directory'));
    writeFileSync(join(src, 'shared', 'inner'), 'inherits the default ACL');
    symlinkSync('tagged', join(src, 'link'));
    setAttributeSync(join(src, 'link'), 'trusted.on-link', Buffer.from('a symlink itself'));
    policy = writeLocalPolicy(work, { sources: [src] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('as root, user.*, trusted.*, an access ACL and a default ACL are recorded and restored byte for byte, on files, directories and symlinks', () => {
    const r = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ partial: false, warnings: [] });
    const to = join(work, 'restored');
    const rr = triad(['restore', '-p', policy, 'latest', '--to', to, '--json'], { env: PASS });
    expect(rr.code, rr.stderr).toBe(0);
    expect(JSON.parse(rr.stdout)).toMatchObject({ xattrsNotSet: 0, failures: [] });
    for (const p of ['tagged', 'shared', 'shared/inner', 'link', 'plain']) expect(attributes(join(to, 'src', p)), p).toEqual(attributes(join(src, p)));
    expect(attributes(join(to, 'src', 'tagged'))['system.posix_acl_access']).toBe(FILE_ACL.toString('hex'));
    expect(attributes(join(to, 'src', 'shared'))['system.posix_acl_default']).toBe(DIR_DEFAULT_ACL.toString('hex'));
    expect(attributes(join(to, 'src', 'link'))['trusted.on-link']).toBe(Buffer.from('a symlink itself').toString('hex'));
    expect(Object.keys(attributes(join(to, 'src', 'plain')))).toEqual([]);
    expect(statSync(join(to, 'src', 'tagged')).mode & 0o7777).toBe(0o640);
  });

  it('a change of extended attributes alone is a change: stored by the next backup, shown by diff', () => {
    setAttributeSync(join(src, 'tagged'), 'user.origin', Buffer.from('scanner-4'));
    setAttributeSync(join(src, 'shared'), 'user.dir', Buffer.from('changed on a directory'));
    const r = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const snaps = (JSON.parse(triad(['snapshots', '-p', policy, '--json'], { env: PASS }).stdout) as { snapshots: { id: string }[] }).snapshots.map((s) => s.id);
    const diff = triad(['diff', '-p', policy, snaps[0]!, snaps[snaps.length - 1]!, '--json'], { env: PASS });
    expect(JSON.parse(diff.stdout)).toMatchObject({ added: [], removed: [], modified: ['src/shared', 'src/tagged'] });
    const to = join(work, 'restored-2');
    expect(triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS }).code).toBe(0);
    expect(getAttributeSync(join(to, 'src', 'tagged'), 'user.origin')!.toString()).toBe('scanner-4');
    expect(getAttributeSync(join(to, 'src', 'shared'), 'user.dir')!.toString()).toBe('changed on a directory');
  });

  it('a backup after no change keeps every attribute (unchanged files take theirs from the parent snapshot)', () => {
    const r = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const to = join(work, 'restored-unchanged');
    expect(triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS }).code).toBe(0);
    expect(attributes(join(to, 'src', 'tagged'))).toEqual(attributes(join(src, 'tagged')));
    expect(attributes(join(to, 'src', 'shared'))).toEqual(attributes(join(src, 'shared')));
  });

  it('restored as an unprivileged user: what the kernel refuses (trusted.*) is a warning naming the file and attribute, the rest is set, exit 0', () => {
    giveToUnprivileged(work);
    const to = join(work, 'restored-nobody');
    const rr = triadUnprivileged(['restore', '-p', policy, 'latest', '--to', to, '--json'], { env: PASS });
    expect(rr.code, rr.stderr).toBe(0);
    const out = JSON.parse(rr.stdout) as { xattrsNotSet: number; failures: unknown[] };
    expect(out.failures).toEqual([]);
    // trusted.audit on src/tagged and trusted.on-link on src/link.
    expect(out.xattrsNotSet).toBe(2);
    expect(rr.stderr).toMatch(/src\/tagged: extended attribute trusted\.audit not restored: /);
    expect(rr.stderr).toMatch(/src\/link: extended attribute trusted\.on-link not restored: /);
    // As the owner, user.* and ACLs are set.
    expect(getAttributeSync(join(to, 'src', 'tagged'), 'user.binary')).toEqual(Buffer.of(0, 0xff, 0x80, 10));
    expect(getAttributeSync(join(to, 'src', 'tagged'), 'system.posix_acl_access')).toEqual(FILE_ACL);
    expect(getAttributeSync(join(to, 'src', 'shared'), 'system.posix_acl_default')).toEqual(DIR_DEFAULT_ACL);
  });
});
