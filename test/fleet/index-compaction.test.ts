import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/backends/local.js';
import type { Storage } from '../../src/backends/storage.js';
import { MasterIndex } from '../../src/repo/index/index.js';
import { repairIndex } from '../../src/repo/maintenance/repair-index.js';
import { Repository } from '../../src/repo/repository.js';
import { PASS, tempDir, triad, triadAsync, writePolicy } from '../helpers/triad.js';

// Every backup of every host adds an index file; opening the repository reads them all. prune
// and repair index compact them into one, so opening stays flat as hosts × backups grow.
const HOSTS = ['alpha', 'beta', 'gamma'];
const ROUNDS = 4;

function fleet() {
  const dir = tempDir();
  const repo = join(dir, 'shared-nas');
  const policies = new Map<string, string>();
  for (const host of HOSTS) {
    const home = join(dir, host);
    mkdirSync(join(home, 'src'), { recursive: true });
    writeFileSync(join(home, 'src', 'common.txt'), 'the same on every host\n'.repeat(500));
    policies.set(host, writePolicy(home, { name: 'srv', sources: [join(home, 'src')], targets: { nas: { type: 'local', path: repo, media: 'nas', offsite: false } }, rule: 'none', extra: { host, retention: { keep_last: 100 } } }));
  }
  const round = (host: string, i: number) => writeFileSync(join(dir, host, 'src', 'round.txt'), `${host} round ${i}\n`);
  return { dir, repo, policies, round };
}

const ok = (args: string[], env: Record<string, string> = {}) => {
  const r = triad(args, { env: { ...PASS, ...env } });
  expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
  return r;
};

const indexFiles = (repo: string) => readdirSync(join(repo, 'index'));

/** Loads of index files by one `ls` of the latest snapshot (the repository opened once). */
function indexLoadsToOpen(dir: string, policy: string): number {
  const log = join(dir, `loads-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(log, '');
  ok(['ls', '-p', policy, 'latest'], { TRIAD_TEST_COUNT_LOADS: log });
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"name":"index/')).length;
}

describe('index compaction across hosts', () => {
  it(`${HOSTS.length * ROUNDS} backups from ${HOSTS.length} hosts leave as many index files; repair index and prune compact them to one, every snapshot restores, and opening reads one file`, async () => {
    const { dir, repo, policies, round } = fleet();
    const policy = (h: string) => policies.get(h)!;
    ok(['init', '-p', policy('alpha')]);
    for (let i = 0; i < ROUNDS; i++) {
      for (const h of HOSTS) {
        round(h, i);
        ok(['backup', '-p', policy(h)]);
      }
    }
    expect(indexFiles(repo)).toHaveLength(HOSTS.length * ROUNDS);
    expect(indexLoadsToOpen(dir, policy('alpha'))).toBe(HOSTS.length * ROUNDS);

    const repaired = JSON.parse(ok(['repair', 'index', '-p', policy('beta'), '--json']).stdout) as { targets: { indexFilesWritten: string[]; indexFilesRemoved: string[] }[] };
    expect(repaired.targets[0]!.indexFilesWritten).toHaveLength(1);
    expect(repaired.targets[0]!.indexFilesRemoved).toHaveLength(HOSTS.length * ROUNDS);
    expect(indexFiles(repo)).toHaveLength(1);
    expect(indexLoadsToOpen(dir, policy('alpha'))).toBe(1);

    // More backups add files again; prune folds them back into one.
    for (const h of HOSTS) {
      round(h, ROUNDS);
      ok(['backup', '-p', policy(h)]);
    }
    expect(indexFiles(repo)).toHaveLength(1 + HOSTS.length);
    ok(['prune', '-p', policy('gamma')]);
    expect(indexFiles(repo)).toHaveLength(1);
    expect(indexLoadsToOpen(dir, policy('beta'))).toBe(1);
    ok(['check', '-p', policy('alpha'), '--read-data']);

    // Every snapshot of every host restores its own round's file.
    const listed = JSON.parse(ok(['snapshots', '-p', policy('alpha'), '--all-hosts', '--json']).stdout) as { snapshots: { id: string; host: string; time: string }[] };
    expect(listed.snapshots).toHaveLength(HOSTS.length * (ROUNDS + 1));
    const jobs = listed.snapshots.map((s) => ({ ...s, round: listed.snapshots.filter((o) => o.host === s.host && o.time < s.time).length }));
    for (let i = 0; i < jobs.length; i += 3) {
      await Promise.all(
        jobs.slice(i, i + 3).map(async (s) => {
          const to = join(dir, 'restored', s.id);
          const r = await triadAsync(['restore', '-p', policy('alpha'), s.id, '--host', s.host, '--to', to], { env: PASS });
          expect(r.code, r.stderr).toBe(0);
          expect(readFileSync(join(to, 'src', 'round.txt'), 'utf8')).toBe(`${s.host} round ${s.round}\n`);
          expect(readFileSync(join(to, 'src', 'common.txt'), 'utf8')).toBe('the same on every host\n'.repeat(500));
        }),
      );
    }
  }, 600_000);

  it('an index load that a compaction races finds the new files: a file gone after the listing sends it back to list index/', async () => {
    const { repo, policies, round } = fleet();
    ok(['init', '-p', policies.get('alpha')!]);
    for (const h of HOSTS) {
      round(h, 0);
      ok(['backup', '-p', policies.get(h)!]);
    }
    const storage = new LocalStorage(repo);
    const reader = await Repository.open('nas', racingCompaction(storage, () => compact(repo)), PASS.TEST_PASSPHRASE);
    const whole = await MasterIndex.load(await Repository.open('nas', new LocalStorage(repo), PASS.TEST_PASSPHRASE));
    const index = await MasterIndex.load(reader);
    expect(indexFiles(repo)).toHaveLength(1);
    expect([...index.packs.keys()].sort()).toEqual([...whole.packs.keys()].sort());
    expect(index.packs.size).toBeGreaterThanOrEqual(HOSTS.length);
  }, 120_000);
});

/** A full repair index from a second process's view of the repository (it lists and replaces every index file). */
async function compact(path: string): Promise<void> {
  const other = await Repository.open('nas', new LocalStorage(path), PASS.TEST_PASSPHRASE);
  const r = await repairIndex(other);
  expect(r.indexFilesRemoved.length).toBeGreaterThan(1);
}

/** The storage as a reader sees it when a compaction runs right after its listing of index/. */
function racingCompaction(inner: Storage, compaction: () => Promise<void>): Storage {
  let raced = false;
  return {
    location: inner.location,
    save: (name, data, opts) => inner.save(name, data, opts),
    load: async (name, range, opts) => {
      if (name.startsWith('index/') && !raced) {
        raced = true;
        await compaction();
      }
      return inner.load(name, range, opts);
    },
    stat: (name, opts) => inner.stat(name, opts),
    list: (prefix, opts) => inner.list(prefix, opts),
    remove: (name, opts) => inner.remove(name, opts),
    close: () => inner.close(),
  };
}
