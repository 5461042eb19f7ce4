import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, triad, writeLocalPolicy } from '../helpers/triad.js';

/**
 * Two hosts back up under the same policy name into one repository, each with its own
 * catalogue (policies differing only in `host:`, sources and catalogue).
 */
describe('hosts sharing a policy name and a repository', () => {
  const work = scratchDir('triad-shared-hosts-');
  const repo = join(work, 'shared-nas');
  const policies: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const run = (args: string[]) => triad(args, { env: PASS });

  /** A host's policy: its own directory (source, catalogue), the shared target. */
  function hostPolicy(host: string): string {
    const dir = join(work, host);
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'src', 'whose.txt'), `${host}\n`);
    return writeLocalPolicy(dir, { name: 'fileserver', sources: [join(dir, 'src')], targets: { nas: { path: repo } }, rule: 'none', extra: `host: ${host}` });
  }

  function backup(host: string): string {
    const r = run(['backup', '-p', policies[host]!, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout).snapshot as string;
  }

  beforeAll(() => {
    for (const h of ['alpha', 'beta', 'gamma']) policies[h] = hostPolicy(h);
    expect(run(['init', '-p', policies.alpha!]).code).toBe(0);
    // beta backs up last, so its snapshot is the repository's newest.
    ids.alpha = backup('alpha');
    ids.beta = backup('beta');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("latest is this host's latest for restore and ls, although another host's snapshot is newer", () => {
    const to = join(work, 'restore-alpha');
    const r = run(['restore', '-p', policies.alpha!, 'latest', '--to', to, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).snapshot).toBe(ids.alpha);
    expect(readFileSync(join(to, 'src', 'whose.txt'), 'utf8')).toBe('alpha\n');
    const ls = run(['ls', '-p', policies.beta!, 'latest', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain(ids.beta!);
    expect(ls.stdout).not.toContain(ids.alpha!);
  });

  it("an explicit id still reaches another host's snapshot", () => {
    const to = join(work, 'restore-beta-from-alpha');
    const r = run(['restore', '-p', policies.alpha!, ids.beta!.slice(0, 12), '--to', to]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(to, 'src', 'whose.txt'), 'utf8')).toBe('beta\n');
  });

  it('a host without a snapshot of its own gets a clear error naming it, not another host’s data', () => {
    const r = run(['restore', '-p', policies.gamma!, 'latest', '--to', join(work, 'restore-gamma')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error: no snapshot of host gamma on target 'nas': its 2 snapshots are from other hosts [E_SNAPSHOT_NOT_FOUND]");
  });

  it("each host's catalog verify compares its own snapshots and does not call the other's packs drift", () => {
    for (const [me, other] of [['alpha', 'beta'], ['beta', 'alpha']] as const) {
      const r = run(['catalog', 'verify', '-p', policies[me]!, '--json']);
      expect(r.code, `${me}: ${r.stdout}`).toBe(0);
      const [t] = JSON.parse(r.stdout).targets;
      expect(t).toMatchObject({ name: 'nas', ok: true, snapshots: 1, drift: [], sharedWith: [`fileserver@${other}`] });
      expect(t.unattributedPacks).toBeGreaterThan(0);
    }
  });

  it('catalog verify still finds drift of its own host', () => {
    const snapshotFile = join(repo, 'snapshots', ids.alpha!);
    const saved = readFileSync(snapshotFile);
    rmSync(snapshotFile);
    try {
      const r = run(['catalog', 'verify', '-p', policies.alpha!, '--json']);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).targets[0].drift).toEqual([expect.objectContaining({ kind: 'snapshot-not-on-target', id: ids.alpha })]);
    } finally {
      writeFileSync(snapshotFile, saved);
    }
  });
});
