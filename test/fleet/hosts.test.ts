import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.js';
import { PASS, tempDir, triad, writePolicy } from '../helpers/triad.js';

// Two hosts, each with its own policy file and catalogue, share one repository: each sees its
// own snapshots unless it asks for another host's or every host's, and retention never touches
// another host's snapshots unless asked.
function twoHosts() {
  const dir = tempDir();
  const repo = join(dir, 'shared-nas');
  const policyOf = (host: string) => {
    const home = join(dir, host);
    mkdirSync(join(home, 'src'), { recursive: true });
    writeFileSync(join(home, 'src', `${host}.txt`), `data of ${host}\n`);
    writeFileSync(join(home, 'src', 'common.txt'), 'the same on every host\n'.repeat(1000));
    return writePolicy(home, {
      name: 'srv',
      sources: [join(home, 'src')],
      targets: { nas: { type: 'local', path: repo, media: 'nas', offsite: false } },
      rule: 'none',
      extra: { host, retention: { keep_last: 1 } },
    });
  };
  return { alpha: policyOf('alpha'), beta: policyOf('beta'), dir };
}

const ok = (args: string[]) => {
  const r = triad(args, { env: PASS });
  expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
  return r;
};
const listed = (policy: string, ...flags: string[]): string[] =>
  (JSON.parse(ok(['snapshots', '-p', policy, '--json', ...flags]).stdout) as { snapshots: { host: string }[] }).snapshots.map((s) => s.host);

describe('several hosts, one repository', () => {
  it('snapshots lists this host by default, --host H and --all-hosts the others; forget keeps to this host unless asked', () => {
    const { alpha, beta, dir } = twoHosts();
    ok(['init', '-p', alpha]);
    for (let i = 0; i < 2; i++) {
      ok(['backup', '-p', alpha]);
      ok(['backup', '-p', beta]);
    }
    expect(listed(alpha)).toEqual(['alpha', 'alpha']);
    expect(listed(beta)).toEqual(['beta', 'beta']);
    expect(listed(alpha, '--host', 'beta')).toEqual(['beta', 'beta']);
    expect(listed(alpha, '--all-hosts').sort()).toEqual(['alpha', 'alpha', 'beta', 'beta']);
    // `latest` is this host's, another's with --host, the newest of all with --all-hosts (beta backed up last).
    const files = (...flags: string[]) => (JSON.parse(ok(['ls', '-p', alpha, 'latest', '--json', ...flags]).stdout) as { entries: { path: string }[] }).entries.map((e) => e.path).filter((p) => p.endsWith('a.txt'));
    expect(files()).toEqual(['src/alpha.txt']);
    expect(files('--host', 'beta')).toEqual(['src/beta.txt']);
    expect(files('--all-hosts')).toEqual(['src/beta.txt']);
    ok(['restore', '-p', alpha, 'latest', '--host', 'beta', '--to', join(dir, 'as-beta')]);
    expect(readFileSync(join(dir, 'as-beta', 'src', 'beta.txt'), 'utf8')).toBe('data of beta\n');

    // keep_last 1 on alpha: only alpha's older snapshot goes, and beta's are not even listed.
    const f = JSON.parse(ok(['forget', '-p', alpha, '--json']).stdout) as { targets: { snapshots: { host: string; keep: boolean }[]; removed: string[] }[] };
    expect(f.targets[0]!.snapshots.map((s) => [s.host, s.keep])).toEqual([['alpha', false], ['alpha', true]]);
    expect(listed(alpha, '--all-hosts').sort()).toEqual(['alpha', 'beta', 'beta']);
    // Asked for every host: each host's group is retained on its own.
    ok(['forget', '-p', alpha, '--all-hosts']);
    expect(listed(alpha, '--all-hosts').sort()).toEqual(['alpha', 'beta']);
    // The other host's data is intact after alpha's prune; beta's check finds the snapshot alpha
    // forgot in the repository's journal (no damage) and its catalogue learns who forgot it.
    ok(['prune', '-p', alpha]);
    ok(['check', '-p', beta, '--read-data']);
    const cat = openCatalog(join(dir, 'beta', 'catalog.db'), { readonly: true });
    try {
      const rules = cat.listSnapshots('srv').flatMap((s) => s.presence.map((p) => [p.status, p.forget_rule]));
      expect(rules).toEqual([['forgotten', 'policy retention: keep_last 1 (forget on host alpha)'], ['complete', null]]);
    } finally {
      cat.close();
    }
    ok(['restore', '-p', beta, 'latest', '--to', join(dir, 'beta-restored')]);
  });

  it('backup --host records another host name; --host and --all-hosts together, or an empty host, are usage errors', () => {
    const { alpha } = twoHosts();
    ok(['init', '-p', alpha]);
    ok(['backup', '-p', alpha, '--host', 'gamma']);
    expect(listed(alpha)).toEqual([]);
    expect(listed(alpha, '--host', 'gamma')).toEqual(['gamma']);
    const both = triad(['snapshots', '-p', alpha, '--host', 'gamma', '--all-hosts'], { env: PASS });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--host.*--all-hosts|--all-hosts.*--host/);
    const empty = triad(['backup', '-p', alpha, '--host', ''], { env: PASS });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('a host name must be non-empty');
  });
});
