import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.js';
import { s3rverForSuite } from '../helpers/emulators.js';
import { PASS, triad, writePolicy } from '../helpers/triad.js';
import { parseJunit } from '../restore-test/helpers.js';

// Four hosts, each with its own tree, policy file and catalogue, back up into one s3rver bucket
// and one NAS path. The fleet report is built from the repository alone; delta stopped backing
// up after its first run and is the one finding.
const work = mkdtempSync(join(tmpdir(), 'triad-fleet-report-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const suite = s3rverForSuite(join(work, 'emu'));
const nas = join(work, 'nas');
const HOSTS = [
  { host: 'alpha', policy: 'web' },
  { host: 'beta', policy: 'web' },
  { host: 'gamma', policy: 'db' },
  { host: 'delta', policy: 'mail' },
] as const;
const at = (h: number) => `2026-03-02T${String(h).padStart(2, '0')}:00:00.000Z`;
/** Every host backs up at these hours; delta only at the first. */
const ROUNDS = [0, 3, 6];
const AT = at(8);

interface Json {
  [k: string]: unknown;
}

function env(): Record<string, string> {
  const { s3 } = suite;
  return { ...PASS, ...s3.env, AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey };
}

function run(args: string[], now?: string) {
  return triad(args, { env: { ...env(), ...(now ? { TRIAD_TEST_NOW: now } : {}) } });
}

function ok(args: string[], now?: string) {
  const r = run(args, now);
  expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
  return r;
}

function policyFile(host: string, policy: string): string {
  const home = join(work, host);
  mkdirSync(join(home, 'src'), { recursive: true });
  // Data only this host has (its own packs) and data every host has (stored once).
  writeFileSync(join(home, 'src', `${host}.bin`), randomBytes(300 * 1024));
  writeFileSync(join(home, 'src', 'common.txt'), 'the same on every host\n'.repeat(2000));
  return writePolicy(home, {
    name: policy,
    sources: [join(home, 'src')],
    targets: {
      nas: { type: 'local', path: nas, media: 'nas', offsite: false },
      cloud: suite.s3.policyFields({ prefix: 'fleet/' }),
    },
    rule: '3-2-1',
    extra: { objectives: { rpo: '4h', rto: '2h', window: '7d' } },
  });
}

const s3Url = () => ['--repo', `s3://${suite.s3.bucket}/fleet`, '--endpoint', suite.s3.endpoint, '--checksums', 'when_required', '--passphrase-env', 'TEST_PASSPHRASE'];
const nasUrl = () => ['--repo', nas, '--passphrase-env', 'TEST_PASSPHRASE'];

function fleetJson(repo: string[], now = AT): { code: number; doc: Json & { policies: Json[] } } {
  const r = run(['fleet', 'report', ...repo, '--format', 'json'], now);
  expect([0, 4], r.stderr).toContain(r.code);
  return { code: r.code, doc: JSON.parse(r.stdout) as Json & { policies: Json[] } };
}

const entry = (doc: { policies: Json[] }, host: string) => doc.policies.find((p) => p.host === host)!;
const lastSuccess = (p: Json, target: string) => ((p.backups as { target: string; lastSuccess: { at: string } | null }[]).find((b) => b.target === target)?.lastSuccess?.at ?? null);
const breachSince = (p: Json) => (p.rpo as { overall: { breachSince: string | null } }).overall.breachSince;

describe('fleet report and restore-test from one repository shared by four hosts', () => {
  const files: Record<string, string> = {};

  it('four hosts back up into one bucket and one NAS path', () => {
    for (const h of HOSTS) files[h.host] = policyFile(h.host, h.policy);
    ok(['init', '-p', files.alpha!], at(0));
    for (const [i, hour] of ROUNDS.entries()) {
      for (const h of HOSTS) {
        if (h.host === 'delta' && i > 0) continue;
        ok(['backup', '-p', files[h.host]!, '--host', h.host], at(hour));
      }
    }
  }, 300_000);

  it('fleet report lists every host × policy with its last backup and RPO verdict; the stopped host is the one finding', () => {
    for (const [repo, target] of [[s3Url(), 'cloud'], [nasUrl(), 'nas']] as const) {
      const { code, doc } = fleetJson(repo);
      expect(code).toBe(4);
      expect(doc.schema).toBe('triad.fleet-report/v1');
      expect(doc.policies.map((p) => [p.host, p.policy, p.target, p.objectivesRecorded])).toEqual([
        ['alpha', 'web', target, true],
        ['beta', 'web', target, true],
        ['delta', 'mail', target, true],
        ['gamma', 'db', target, true],
      ]);
      for (const h of ['alpha', 'beta', 'gamma']) {
        const p = entry(doc, h);
        // Both copies count: the one read, and the other target from the journal's record.
        expect([lastSuccess(p, 'nas'), lastSuccess(p, 'cloud')]).toEqual([at(6), at(6)]);
        expect(breachSince(p)).toBeNull();
        expect(p.verdict).toBe('compliant');
        expect((p.rule as { data: string }).data).toBe('met');
        expect((p.objectives as { rpoMs: number }).rpoMs).toBe(4 * 3600_000);
      }
      const delta = entry(doc, 'delta');
      expect([lastSuccess(delta, 'nas'), lastSuccess(delta, 'cloud')]).toEqual([at(0), at(0)]);
      expect(breachSince(delta)).toBe(at(4));
      expect(delta.verdict).toBe('finding');
      expect((delta.findings as { code: string; severity: string }[]).filter((f) => f.severity === 'critical').map((f) => f.code)).toContain('rpo-breach');
    }
    // --host narrows to one host; status prints one line per host × policy; --nagios one line for the fleet.
    const one = run(['fleet', 'report', ...nasUrl(), '--host', 'gamma', '--format', 'json'], AT);
    expect(one.code, one.stderr).toBe(0);
    expect((JSON.parse(one.stdout) as { policies: Json[] }).policies.map((p) => p.host)).toEqual(['gamma']);
    const status = run(['fleet', 'status', ...nasUrl()], AT);
    expect(status.code).toBe(4);
    expect(status.stdout.trim().split('\n').map((l) => l.split(' ').slice(0, 4).join(' '))).toEqual(['web on alpha WARNING', 'web on beta WARNING', 'mail on delta CRITICAL', 'db on gamma WARNING']);
    const nagios = run(['fleet', 'status', ...nasUrl(), '--nagios'], AT);
    expect(nagios.code).toBe(2);
    expect(nagios.stdout.trim().split('\n')).toHaveLength(1);
    expect(nagios.stdout).toMatch(/^TRIAD CRITICAL - fleet: mail on delta: .* \| critical=1;;;0;4 warning=3;;;0;4 policies=4;;;0$/m);
    // Before delta's RPO ran out (04:00), nothing is out of contract.
    expect(fleetJson(nasUrl(), '2026-03-02T03:30:00.000Z').code).toBe(0);
    const prom = run(['fleet', 'report', ...nasUrl(), '--format', 'prometheus'], AT);
    expect(prom.stdout).toContain('triad_rpo_compliant{host="delta",policy="mail",target="overall"} 0');
    expect(prom.stdout).toContain('triad_rpo_compliant{host="alpha",policy="web",target="nas"} 1');
  }, 180_000);

  it("one host's figures equal `triad report` from that host's catalogue", () => {
    const fleet = entry(fleetJson(s3Url()).doc, 'beta');
    const r = run(['report', '-p', files.beta!, '--format', 'json'], AT);
    expect(r.code, r.stderr).toBe(0);
    const own = (JSON.parse(r.stdout) as { policies: Json[] }).policies[0]!;
    for (const field of ['policy', 'objectives', 'obligationsStart', 'rule', 'rpo', 'rto', 'restoreTests', 'lastRestoreTest', 'backups', 'keys', 'severity', 'verdict']) {
      expect(fleet[field], field).toEqual(own[field]);
    }
  }, 120_000);

  it('restore-test --repo --all-hosts passes from one place, is evidence in the fleet report, and exits 4 once one host\'s pack is damaged', () => {
    const junit = join(work, 'fleet-junit.xml');
    const t = run(['restore-test', ...s3Url(), '--all-hosts', '--target', 'cloud', '--files', '100', '--seed', '7', '--json', '--junit', junit], at(7));
    expect(t.code, t.stderr).toBe(0);
    // JUnit: one suite per host × policy, a passing case per sampled file and one for the snapshot's structure.
    const suites = parseJunit(readFileSync(junit, 'utf8')).testsuite;
    const structure = (c: { '@_name': string }) => c['@_name'].startsWith('structure of snapshot');
    expect(suites.map((s) => [s['@_name'], s['@_failures'], s.testcase.filter((c) => !structure(c)).length, s.testcase.filter(structure).length])).toEqual([
      ['alpha/web', '0', 2, 1],
      ['beta/web', '0', 2, 1],
      ['delta/mail', '0', 2, 1],
      ['gamma/db', '0', 2, 1],
    ]);
    const res = JSON.parse(t.stdout) as { tests: { host: string; policy: string; ok: boolean; targets: { files: number; failed: number }[] }[] };
    expect(res.tests.map((x) => [x.host, x.policy, x.ok, x.targets[0]!.files])).toEqual([
      ['alpha', 'web', true, 2],
      ['beta', 'web', true, 2],
      ['delta', 'mail', true, 2],
      ['gamma', 'db', true, 2],
    ]);
    // Recorded in the bucket's journal under the hosts' name for it: the fleet report counts it.
    const doc = fleetJson(s3Url()).doc;
    for (const h of ['alpha', 'beta', 'gamma', 'delta']) {
      const last = entry(doc, h).lastRestoreTest as { at: string; ok: boolean; copies: { target: string }[] } | null;
      expect(last && [last.at, last.ok, last.copies.map((c) => c.target)], h).toEqual([at(7), true, ['cloud']]);
    }

    // Damage every pack only beta's backups wrote on the NAS: beta's test fails, the others pass.
    const own = (host: string) => {
      const cat = openCatalog(join(work, host, 'catalog.db'), { readonly: true });
      try {
        return new Set(cat.iteratePackIds(HOSTS.find((h) => h.host === host)!.policy, 'nas'));
      } finally {
        cat.close();
      }
    };
    const others = new Set(['alpha', 'gamma', 'delta'].flatMap((h) => [...own(h)]));
    const betaOnly = [...own('beta')].filter((p) => !others.has(p));
    expect(betaOnly.length).toBeGreaterThan(0);
    for (const id of betaOnly) {
      const file = join(nas, 'data', id.slice(0, 2), id);
      const bytes = readFileSync(file);
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
      writeFileSync(file, bytes);
    }
    const bad = run(['restore-test', ...nasUrl(), '--all-hosts', '--target', 'nas', '--files', '100', '--seed', '7', '--json', '--junit', junit], at(7));
    expect(bad.code, bad.stderr).toBe(4);
    const badSuites = parseJunit(readFileSync(junit, 'utf8')).testsuite;
    expect(badSuites.map((s) => [s['@_name'], Number(s['@_failures']) > 0])).toEqual([
      ['alpha/web', false],
      ['beta/web', true],
      ['delta/mail', false],
      ['gamma/db', false],
    ]);
    const badRes = JSON.parse(bad.stdout) as typeof res;
    expect(badRes.tests.map((x) => [x.host, x.ok])).toEqual([
      ['alpha', true],
      ['beta', false],
      ['delta', true],
      ['gamma', true],
    ]);
    // --host tests one host alone.
    const gamma = run(['restore-test', ...nasUrl(), '--host', 'gamma', '--json'], at(7));
    expect(gamma.code, gamma.stderr).toBe(0);
    expect((JSON.parse(gamma.stdout) as typeof res).tests.map((x) => x.host)).toEqual(['gamma']);
    const neither = run(['restore-test', ...nasUrl()], at(7));
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('--all-hosts or --host H');
  }, 180_000);
});

describe('fleet report of a repository written before backup records kept the objectives', () => {
  it('lists the host × policy with its last backup and says its objectives are not recorded (a warning, exit 0)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'triad-fleet-old-'));
    try {
      const repoDir = join(dir, 'nas');
      mkdirSync(join(dir, 'src'));
      const policy = writePolicy(dir, { name: 'old', sources: [join(dir, 'src')], targets: { nas: { type: 'local', path: repoDir, media: 'nas', offsite: false } }, rule: 'none' });
      expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
      // What an older triad's backup left: a snapshot and its backup record, without details.policy.
      const { openStorage } = await import('../../src/backends/open.js');
      const { Repository } = await import('../../src/repo/repository.js');
      const { sealSnapshot, writeJournal } = await import('../../src/repo/model/index.js');
      const storage = await openStorage({ name: 'nas', type: 'local', path: repoDir, media: 'nas', offsite: false, immutable: false, offline: false, upload_limit: 0 }, { env: {} });
      try {
        const repo = await Repository.open('nas', storage, PASS.TEST_PASSPHRASE);
        const summary = { files: 1, dirs: 1, bytes: 10, filesNew: 1, filesChanged: 0, filesUnchanged: 0, bytesRead: 10, dataAdded: 10, dataAddedPacked: 60, blobsNew: 2, warnings: 0 };
        const time = '2026-03-01T10:00:00.000Z';
        const finished = '2026-03-01T10:00:05.000Z';
        const { id, sealed } = sealSnapshot(repo, { version: 1, time, finished, policy: 'old', host: 'legacy', paths: ['/srv'], tree: 'ab'.repeat(32), partial: false, tags: [], summary });
        await storage.save(`snapshots/${id}`, sealed);
        await writeJournal([repo], {
          version: 1, kind: 'backup', policy: 'old', host: 'legacy', started: time, finished, status: 'ok', exitCode: 0, snapshot: id,
          targets: [{ name: 'nas', ok: true, location: storage.location }], details: { summary, partial: false, time, paths: ['/srv'] },
        });
      } finally {
        await storage.close();
      }
      const r = triad(['fleet', 'report', '--repo', repoDir, '--passphrase-env', 'TEST_PASSPHRASE', '--format', 'json'], { env: { ...PASS, TRIAD_TEST_NOW: '2026-03-02T00:00:00Z' } });
      expect(r.code, r.stderr).toBe(0);
      const [p] = (JSON.parse(r.stdout) as { policies: Json[] }).policies;
      expect([p!.host, p!.policy, p!.target, p!.objectivesRecorded]).toEqual(['legacy', 'old', 'nas', false]);
      expect(lastSuccess(p!, 'nas')).toBe('2026-03-01T10:00:05.000Z');
      expect((p!.objectives as { rpoMs: number | null }).rpoMs).toBeNull();
      expect((p!.findings as { code: string; severity: string }[]).map((f) => [f.code, f.severity])).toContainEqual(['objectives-not-recorded', 'warning']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
