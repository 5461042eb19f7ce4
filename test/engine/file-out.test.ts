import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitTemp, createPlan, openTemp, probeCreation, writeTemp, type FileMeta } from '../../src/repo/restore/file-out.js';
import { scratchDir } from '../helpers/triad.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dir(): string {
  const d = scratchDir();
  dirs.push(d);
  return d;
}

/** The process's umask as the kernel reports it (reading it through process.umask() would set it twice). */
function umask(): number {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('Umask:'))!;
  return parseInt(line.split(/\s+/)[1], 8);
}

function restoreOne(d: string, name: string, meta: FileMeta, owner: boolean, as = probeCreation(d)) {
  const plan = createPlan(meta, owner, as);
  const out = join(d, name);
  const t = openTemp(out, true, false, plan.createMode);
  writeTemp(t, Buffer.from(name));
  commitTemp(t, meta, plan);
  return { plan, st: lstatSync(out) };
}

describe('creating restored files with their final permissions', () => {
  it('learns from a probe file what the umask leaves and who owns new files, and leaves nothing behind', () => {
    const d = dir();
    const as = probeCreation(d)!;
    expect(as).toEqual({ perm: 0o777 & ~umask(), uid: process.geteuid!(), gid: process.getegid!() });
    expect(readdirSync(d)).toEqual([]);
    expect(probeCreation(join(d, 'missing'))).toBeUndefined();
  });

  it('gives every file exactly its mode, skipping chmod only when creation already gave it', () => {
    const d = dir();
    const as = probeCreation(d)!;
    const base = { uid: as.uid, gid: as.gid, mtime: Date.UTC(2031, 4, 5) };
    for (const mode of [as.perm, as.perm & 0o640, 0o777, 0o666, 0o000, 0o4755, 0o2750, 0o1777]) {
      const { plan, st } = restoreOne(d, `m${mode.toString(8)}`, { ...base, mode }, false, as);
      expect((st.mode & 0o7777).toString(8)).toBe(mode.toString(8));
      expect(st.mtimeMs).toBe(base.mtime);
      const givenAtCreation = (mode & 0o7000) === 0 && (mode & ~as.perm) === 0;
      expect(plan.chmod).toBe(!givenAtCreation);
    }
    // The umask of this process keeps owner permissions, so a 0600 file never needs chmod...
    expect(createPlan({ ...base, mode: 0o600 }, false, as).chmod).toBe(false);
    // ...and set-ID bits always do; without a probe every file does.
    expect(createPlan({ ...base, mode: 0o4600 }, false, as).chmod).toBe(true);
    expect(createPlan({ ...base, mode: 0o600 }, false, undefined)).toEqual({ createMode: 0o600, chmod: true, chown: false });
  });

  it('chowns only a file whose owner or group differs from what creation gives, and never without ownership', () => {
    const as = { perm: 0o755, uid: 1000, gid: 1000 };
    expect(createPlan({ mode: 0o644, uid: 1000, gid: 1000, mtime: 0 }, true, as).chown).toBe(false);
    expect(createPlan({ mode: 0o644, uid: 1000, gid: 50, mtime: 0 }, true, as).chown).toBe(true);
    expect(createPlan({ mode: 0o644, uid: 0, gid: 1000, mtime: 0 }, true, as).chown).toBe(true);
    expect(createPlan({ mode: 0o644, uid: 0, gid: 0, mtime: 0 }, false, as).chown).toBe(false);
    expect(createPlan({ mode: 0o644, uid: 1000, gid: 1000, mtime: 0 }, true, undefined).chown).toBe(true);
  });

  it('sees the group a set-group-ID directory gives, in it and in directories made below it, and restores the snapshot group', () => {
    const root = process.geteuid!() === 0;
    const d = join(dir(), 'sgid');
    mkdirSync(d);
    // Only root can give the directory a group it is not in: 65534 (nogroup) then.
    const dirGid = root ? 65534 : process.getegid!();
    chownSync(d, process.geteuid!(), dirGid);
    chmodSync(d, 0o2775);
    const below = join(d, 'below');
    mkdirSync(below, { mode: 0o700 });
    for (const where of [d, below]) {
      const as = probeCreation(where)!;
      expect(as.gid).toBe(dirGid);
      const meta = { mode: 0o644, uid: process.geteuid!(), gid: process.getegid!(), mtime: Date.UTC(2030, 0, 1) };
      const { plan, st } = restoreOne(where, 'f', meta, root, as);
      expect(plan.chown).toBe(root && dirGid !== meta.gid);
      expect(st.gid).toBe(root ? meta.gid : dirGid);
      expect(st.mode & 0o7777).toBe(0o644);
    }
  });
});
