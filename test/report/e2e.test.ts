import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.js';
import { startS3rver, type S3Emulator } from '../helpers/emulators.js';
import { PASS, scratchDir, triad, triadShipped } from '../helpers/triad.js';

/**
 * End to end (issue #7): real backups to two local targets and an S3 emulator at recorded
 * times, one target left behind, restore-test evidence, then `report` in every format and
 * `status` / `status --nagios` with the evaluation time pinned.
 *
 * Timeline (UTC, 2026-03-02), RPO 4h, schedule every 4 hours:
 *   00:00 backup → nas, usb, cloud      04:00 backup → nas, usb, cloud
 *   08:00 backup → nas, cloud (usb missed: --target)   09:00 restore tests on every target
 * At 10:00: nas and cloud 2h behind (within), usb 6h behind (breach since 08:00), the rule is
 * met by nas + cloud → compliant with a warning. At 13:00: everything older than 4h → breach
 * since 12:00 → finding.
 */
const DAY = '2026-03-02';
const t = (hhmm: string): string => `${DAY}T${hhmm}:00Z`;
const ms = (iso: string): number => Date.parse(iso);
const H = 3_600_000;
const MiB = 1_048_576;

let dir: string;
let s3: S3Emulator;
let policyFile: string;
let catalogFile: string;
let env: Record<string, string>;
const snaps: string[] = [];

function run(args: string[], now?: string): ReturnType<typeof triad> {
  return triad(args, { env: { ...env, ...(now ? { TRIAD_TEST_NOW: now } : {}) } });
}

function backup(at: string, targets: string[] = []): string {
  const r = run(['backup', '-p', policyFile, '--time', at, '--json', ...targets.flatMap((x) => ['--target', x])], at);
  expect(r.stderr).not.toContain('error');
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { snapshot: string; targets: { target: string; status: string }[] };
  expect(out.targets.map((x) => [x.target, x.status])).toEqual((targets.length ? targets : ['nas', 'usb', 'cloud']).map((n) => [n, 'committed']));
  return out.snapshot;
}

interface JsonReport {
  schema: string;
  policies: {
    policy: string;
    verdict: string;
    severity: string;
    exitCode: number;
    at: string;
    obligationsStart: string | null;
    obligationsFrom: string | null;
    productionMedia: string;
    verification?: { everyMs: number; targets: { target: string; verifiedRatio: number | null; neverVerifiedPacks: number; failedPacks: number }[] };
    rule: { data: string; copies: number; targets: { target: string; counts: boolean; reason: string }[] };
    rpo: {
      targets: { target: string; exposureMs: number; within: boolean; breachSince: string | null; snapshotId: string; window: { percentWithin: number; evaluatedMs: number } }[];
      overall: { exposureMs: number; within: boolean; breachSince: string | null; window: { percentWithin: number } };
      breaches: { scope: string; start: string; end: string | null }[];
    };
    rto: { verdict: string; stale: boolean; fastest: { target: string; estimateMs: number } | null; targets: { target: string; estimateMs: number; snapshotBytes: number; evidence: string; verdict: string }[] };
    restoreTests: { target: string; overdue: boolean; last: { ok: boolean } | null }[];
    backups: { target: string; lastSuccess: { at: string } | null; lastFailure: unknown }[];
    capacity: { target: string; usedBytes: number | null; freeBytes: number | null; storedBytes: number | null; reductionRatio: number | null }[];
    findings: { severity: string; code: string; target?: string; message: string; action?: string; affectsCompliance: boolean }[];
    nagios: { status: number };
  }[];
}

function jsonReport(at: string, extra: string[] = []): JsonReport {
  const r = run(['report', '-p', policyFile, '--at', at, '--format', 'json', ...extra]);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as JsonReport;
}

beforeAll(async () => {
  dir = scratchDir('triad-report-e2e-');
  s3 = await startS3rver(join(dir, 's3'));
  env = { ...PASS, ...s3.env };
  const src = join(dir, 'src');
  mkdirSync(join(src, 'docs'), { recursive: true });
  writeFileSync(join(src, 'docs', 'a.txt'), 'ledger 2026\n'.repeat(20_000));
  writeFileSync(join(src, 'b.bin'), Buffer.alloc(300_000, 7));
  catalogFile = join(dir, 'catalog.db');
  const yaml = [
    'version: 1',
    'policy: e2e',
    'description: Finance <file> server & "ledgers"',
    `catalog: ${JSON.stringify(catalogFile)}`,
    'sources:',
    `  - path: ${JSON.stringify(src)}`,
    'encryption:',
    '  passphrase_env: TEST_PASSPHRASE',
    'targets:',
    `  nas: {type: local, path: ${JSON.stringify(join(dir, 'nas'))}, media: nas, offsite: false}`,
    `  usb: {type: local, path: ${JSON.stringify(join(dir, 'usb'))}, media: removable, offsite: false}`,
    `  cloud: ${JSON.stringify(s3.policyFields({ prefix: 'e2e/' }))}`,
    'rule: 3-2-1',
    'objectives: {rpo: 4h, rto: 2h, window: 1d}',
    'schedule: {backup: "0 */4 * * *"}',
    'restore_test: {every: 30d}',
  ];
  policyFile = join(dir, 'e2e.yaml');
  writeFileSync(policyFile, yaml.join('\n') + '\n');

  const init = run(['init', '-p', policyFile], t('00:00'));
  expect(init.code, init.stderr + init.stdout).toBe(0);
  snaps.push(backup(t('00:00')));
  snaps.push(backup(t('04:00')));
  writeFileSync(join(src, 'docs', 'c.txt'), 'new month\n'.repeat(30_000));
  snaps.push(backup(t('08:00'), ['nas', 'cloud']));

  // Restore-test evidence with chosen throughputs, written through the catalogue API as
  // `triad restore-test` records it (one run, one row per target), so that the RTO estimates
  // below are exact; a real `triad restore-test` run follows in its own test.
  const cat = openCatalog(catalogFile);
  try {
    const runId = cat.importRun({ policy: 'e2e', kind: 'restore-test', started_at: t('08:55'), finished_at: t('09:00'), status: 'ok', exit_code: 0 });
    const tests: [string, number, string][] = [
      ['nas', 1000, snaps[2]!],
      ['usb', 2000, snaps[1]!],
      ['cloud', 4000, snaps[2]!],
    ];
    for (const [target, transfer, snap] of tests) {
      cat.addRestoreTest({ run_id: runId, policy: 'e2e', target, at: t('09:00'), seed: 42, ok: true, files: 3, bytes: MiB, overhead_ms: 500, transfer_ms: transfer, snapshots: [snap] });
    }
  } finally {
    cat.close();
  }
}, 120_000);

afterAll(async () => {
  await s3?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('triad report end to end (two local targets + S3 emulator)', () => {
  it('the cloud target really holds the snapshots (engine end to end on s3rver)', () => {
    const r = run(['snapshots', '-p', policyFile, '--target', 'cloud', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const ids = (JSON.parse(r.stdout) as { snapshots: { id: string }[] }).snapshots.map((s) => s.id).sort();
    expect(ids).toEqual([...snaps].sort());
  });

  it('json at 10:00: compliant, usb in breach since 08:00, exact exposures and window figures', () => {
    const doc = jsonReport(t('10:00'));
    expect(doc.schema).toBe('triad.report/v3');
    const p = doc.policies[0]!;
    expect(p.policy).toBe('e2e');
    expect(p.at).toBe(new Date(t('10:00')).toISOString());
    expect([p.verdict, p.exitCode, p.severity, p.nagios.status]).toEqual(['compliant', 0, 'warning', 1]);

    const rpo = Object.fromEntries(p.rpo.targets.map((x) => [x.target, x]));
    expect(rpo.nas!.exposureMs).toBe(2 * H);
    expect(rpo.cloud!.exposureMs).toBe(2 * H);
    expect(rpo.usb!.exposureMs).toBe(6 * H);
    expect(rpo.nas!.snapshotId).toBe(snaps[2]);
    expect(rpo.usb!.snapshotId).toBe(snaps[1]);
    expect([rpo.nas!.within, rpo.cloud!.within, rpo.usb!.within]).toEqual([true, true, false]);
    expect(rpo.usb!.breachSince).toBe(new Date(t('08:00')).toISOString());
    // Obligations start at the first scheduled backup (00:00): 10h evaluated, usb within 8h of them.
    expect(rpo.usb!.window.evaluatedMs).toBe(10 * H);
    expect(rpo.usb!.window.percentWithin).toBe(80);
    expect(rpo.nas!.window.percentWithin).toBe(100);
    expect(p.rpo.overall).toMatchObject({ exposureMs: 2 * H, within: true, breachSince: null });
    expect(p.rpo.overall.window.percentWithin).toBe(100);
    expect(p.rpo.breaches).toEqual([{ scope: 'usb', start: new Date(t('08:00')).toISOString(), end: null, durationMs: 2 * H, startedBeforeWindow: false }]);

    expect(p.rule.data).toBe('met');
    expect(p.rule.copies).toBe(3);
    // Fields of v3: the obligations' start, the declared production medium, verification coverage per copy.
    expect(p.obligationsFrom).toBe('first-backup');
    expect(Date.parse(p.obligationsStart!)).toBeLessThan(Date.parse(t('10:00')));
    expect(p.productionMedia).toBe('disk');
    expect(p.verification!.everyMs).toBe(30 * 24 * H);
    expect(p.verification!.targets.map((x) => x.target)).toEqual(['nas', 'usb', 'cloud']);
    expect(p.rule.targets.map((x) => [x.target, x.counts, x.reason])).toEqual([
      ['nas', true, 'ok'],
      ['usb', false, 'stale'],
      ['cloud', true, 'ok'],
    ]);

    const breach = p.findings.find((f) => f.code === 'rpo-target-breach')!;
    expect(breach).toMatchObject({ severity: 'warning', target: 'usb', affectsCompliance: false });
    expect(breach.action).toContain('--to usb');
    expect(p.findings.filter((f) => f.affectsCompliance)).toEqual([]);

    const backups = Object.fromEntries(p.backups.map((b) => [b.target, b]));
    expect(backups.usb!.lastSuccess!.at).toBe(new Date(t('04:00')).toISOString());
    expect(backups.nas!.lastSuccess!.at).toBe(new Date(t('08:00')).toISOString());
    expect(backups.cloud!.lastFailure).toBeNull();
  });

  it('json at 10:00: RTO estimates from the recorded restore tests, fastest target, capacity', () => {
    const p = jsonReport(t('10:00')).policies[0]!;
    const rto = Object.fromEntries(p.rto.targets.map((x) => [x.target, x]));
    const size = rto.nas!.snapshotBytes;
    // The 08:00 snapshot holds a.txt (240,000 B), b.bin (300,000 B) and c.txt (300,000 B).
    expect(size).toBe(840_000);
    expect(rto.usb!.snapshotBytes).toBe(540_000);
    // overhead 500 ms + size ÷ (1 MiB per transfer time)
    expect(rto.nas!.estimateMs).toBeCloseTo(500 + (840_000 / MiB) * 1000, 6);
    expect(rto.usb!.estimateMs).toBeCloseTo(500 + (540_000 / MiB) * 2000, 6);
    expect(rto.cloud!.estimateMs).toBeCloseTo(500 + (840_000 / MiB) * 4000, 6);
    expect(p.rto.fastest!.target).toBe('nas');
    expect([p.rto.verdict, p.rto.stale]).toEqual(['met', false]);
    expect(p.rto.targets.every((x) => x.evidence === 'fresh' && x.verdict === 'met')).toBe(true);
    expect(p.restoreTests.every((x) => !x.overdue && x.last?.ok === true)).toBe(true);

    const cap = Object.fromEntries(p.capacity.map((c) => [c.target, c]));
    for (const local of ['nas', 'usb']) {
      expect(cap[local]!.usedBytes).toBeGreaterThan(0);
      expect(cap[local]!.freeBytes).toBeGreaterThan(0);
    }
    expect(cap.cloud!.usedBytes).toBeNull();
    // Stored bytes are the catalogue's pack totals; the data compresses well, so the ratio > 1.
    expect(cap.nas!.storedBytes).toBeGreaterThan(0);
    expect(cap.cloud!.storedBytes).toBe(cap.nas!.storedBytes);
    expect(cap.nas!.reductionRatio).toBeGreaterThan(1);
  });

  it('json at 13:00: every copy older than the RPO → breach since 12:00, exit 4', () => {
    const r = run(['report', '-p', policyFile, '--at', t('13:00'), '--format', 'json']);
    expect(r.code).toBe(4);
    const p = (JSON.parse(r.stdout) as JsonReport).policies[0]!;
    expect([p.verdict, p.severity, p.nagios.status]).toEqual(['finding', 'critical', 2]);
    expect(p.rpo.overall.breachSince).toBe(new Date(t('12:00')).toISOString());
    expect(p.rpo.overall.exposureMs).toBe(5 * H);
    expect(p.findings[0]!.severity).toBe('critical');
    expect(p.findings.map((f) => f.code)).toEqual(expect.arrayContaining(['rpo-breach', 'rule-data']));
  });

  it('--window changes the evaluated window', () => {
    const p = jsonReport(t('10:00'), ['--window', '1h']).policies[0]!;
    const usb = p.rpo.targets.find((x) => x.target === 'usb')!;
    expect(usb.window.evaluatedMs).toBe(H);
    expect(usb.window.percentWithin).toBe(0);
  });

  it('table: plain text (no colour when piped) with the verdicts', () => {
    const r = run(['report', '-p', policyFile, '--at', t('10:00')]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/\x1b\[/);
    expect(r.stdout).toContain('Policy e2e  WARNING (within contract)  at 2026-03-02 10:00 UTC, window 1d');
    expect(r.stdout).toMatch(/^usb\s+removable\s+no\s+6h\s+BREACH\s+80\.00%/m);
    expect(r.stdout).toMatch(/^nas\s+nas\s+no\s+2h\s+ok\s+100\.00%/m);
    expect(r.stdout).toMatch(/^cloud\s+object-storage\s+yes\s+2h\s+ok/m);
    expect(r.stdout).toContain('RTO 2h: met, fastest nas');
  });

  it('markdown: headings, tables and findings pasteable into a ticket', () => {
    const r = run(['report', '-p', policyFile, '--at', t('13:00'), '--format', 'markdown']);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain('## Policy e2e: CRITICAL (out of contract)');
    expect(r.stdout).toMatch(/^\| overall \| 5h \| BREACH \|/m);
    // The markdown has the HTML page's sections, in the same order, and the verdict first.
    const headings = [...r.stdout.matchAll(/^##+ (.*)$/gm)].map((m) => m[1]!.replace(/ \d.*$|:.*$/, ''));
    expect(headings).toEqual(['Verdict', 'Policy e2e', '3-2-1 matrix', 'RPO', 'Breaches', 'RTO', 'Restore tests (every', 'Restore-test history (last', 'Backups', 'Capacity', 'Verification coverage (every', 'Findings, worst first']);
    expect(r.stdout).toMatch(/^- \*\*CRITICAL\*\* e2e: out of contract since 2026-03-02 12:00 UTC: RPO 4h exceeded on [a-z, ]+, exposure 5h \(\d+ critical findings in all\); last restore test /m);
    expect(r.stdout).toMatch(/^\| usb \| 2026-03-02 08:00 UTC \| ongoing \| 5h \|$/m);
    expect(r.stdout).toMatch(/^- \*\*CRITICAL\*\* RPO 4h breached since 2026-03-02 12:00 UTC/m);
  });

  it('html: one self-contained, well-formed page with an exposure chart per target and the RPO line', () => {
    const r = run(['report', '-p', policyFile, '--at', t('10:00'), '--format', 'html']);
    expect(r.code).toBe(0);
    const html = r.stdout;
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    const tree = parseHtml(html);
    expect(tree.counts.html).toBe(1);
    expect(tree.counts.head).toBe(1);
    expect(tree.counts.body).toBe(1);
    // One page title; the other titles are the charts' own (SVG <title>, read by screen readers).
    expect(html.match(/<head>[\s\S]*<\/head>/)![0].match(/<title>/g)).toHaveLength(1);
    expect(tree.counts.title).toBe(1 + 3 + 1);
    // No external assets: no script, link, img, iframe; no URL other than the SVG namespace and
    // references to the page's own SVG patterns.
    for (const tag of ['script', 'link', 'img', 'iframe', 'object']) expect(tree.counts[tag] ?? 0).toBe(0);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '').replace(/url\(#hatch-[\d-]+\)/g, '')).not.toMatch(/https?:|url\(|@import|\bsrc=/);
    // One chart per target, each with an exposure polyline and the dashed RPO line.
    expect(tree.counts.svg).toBe(3);
    expect(tree.counts.polyline).toBe(3);
    expect(html.match(/<line [^>]*stroke-dasharray/g)?.length).toBe(3);
    // Text from the policy is escaped, not interpreted.
    expect(html).toContain('Finance &lt;file&gt; server &amp; &quot;ledgers&quot;');
    expect(tree.text).toContain('Finance <file> server & "ledgers"');
    expect(tree.text).toMatch(/Policy e2e\s*WARNING \(within contract\)/);
  });

  it('prometheus: parses with an exposition-format parser; one HELP/TYPE per family; conventional names and values', () => {
    const r = run(['report', '-p', policyFile, '--at', t('10:00'), '--format', 'prometheus']);
    expect(r.code).toBe(0);
    const families = parsePrometheusTextFormat(r.stdout);
    const names = families.map((f) => f.name);
    // The parser starts a new family for a name seen again: duplicates mean interleaved samples.
    expect(new Set(names).size).toBe(names.length);
    for (const f of families) {
      expect(f.type, f.name).toBe('GAUGE');
      expect(f.help, f.name).not.toBe('');
      expect(f.name).toMatch(/^triad_[a-z_]+$/);
    }
    const value = (name: string, labels: Record<string, string>): number => {
      const f = families.find((x) => x.name === name);
      expect(f, name).toBeDefined();
      const m = f!.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
      expect(m, `${name}${JSON.stringify(labels)}`).toBeDefined();
      return Number(m!.value);
    };
    const p = { policy: 'e2e' };
    expect(value('triad_rpo_exposure_seconds', { ...p, target: 'usb' })).toBe(6 * 3600);
    expect(value('triad_rpo_exposure_seconds', { ...p, target: 'nas' })).toBe(2 * 3600);
    expect(value('triad_rpo_exposure_seconds', { ...p, target: 'overall' })).toBe(2 * 3600);
    expect(value('triad_rpo_target_seconds', p)).toBe(4 * 3600);
    expect(value('triad_rule_compliant', { ...p, rule: '3-2-1' })).toBe(1);
    expect(value('triad_compliant', p)).toBe(1);
    expect(value('triad_last_backup_success_timestamp_seconds', { ...p, target: 'usb' })).toBe(ms(t('04:00')) / 1000);
    expect(value('triad_last_backup_success_timestamp_seconds', { ...p, target: 'cloud' })).toBe(ms(t('08:00')) / 1000);
    expect(value('triad_restore_test_last_success_timestamp_seconds', { ...p, target: 'cloud' })).toBe(ms(t('09:00')) / 1000);
    expect(value('triad_rto_estimate_seconds', { ...p, target: 'nas' })).toBeCloseTo((500 + (840_000 / MiB) * 1000) / 1000, 6);
    expect(value('triad_report_timestamp_seconds', p)).toBe(ms(t('10:00')) / 1000);
    expect(value('triad_production_media_info', { ...p, media: 'disk' })).toBe(1);
    expect(value('triad_media', p)).toBe(3);
    expect(value('triad_obligations_start_timestamp_seconds', p)).toBeLessThan(ms(t('10:00')) / 1000);
    expect(value('triad_verify_every_seconds', p)).toBe(30 * 86_400);
    expect(value('triad_verified_ratio', { ...p, target: 'cloud' })).toBeGreaterThanOrEqual(0);
    expect(value('triad_unprotected_paths', p)).toBe(0);
  });

  it('--output writes atomically: the file is replaced by rename and no temporary file is left', () => {
    const outDir = join(dir, 'textfile');
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, 'triad.prom');
    writeFileSync(file, 'old content\n');
    const before = statSync(file).ino;
    const r = run(['report', '-p', policyFile, '--at', t('10:00'), '--format', 'prometheus', '--output', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# TYPE triad_rpo_exposure_seconds gauge');
    expect(text.endsWith('\n')).toBe(true);
    expect(parsePrometheusTextFormat(text).length).toBeGreaterThan(10);
    // A new inode: the old file was replaced whole, never truncated and rewritten in place.
    expect(statSync(file).ino).not.toBe(before);
    expect(readdirSync(outDir)).toEqual(['triad.prom']);

    const bad = run(['report', '-p', policyFile, '--at', t('10:00'), '--output', join(dir, 'no', 'such', 'dir', 'r.txt')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('[E_IO]');
  });

  it('status: one line per policy, exit 0 compliant and 4 on a finding; --json', () => {
    const ok = run(['status', '-p', policyFile, '--at', t('10:00')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split('\n')).toHaveLength(1);
    expect(ok.stdout).toMatch(/^e2e WARNING rule 3-2-1 met rpo ok \(exposure 2h\/4h\) rto met - target usb is 6h behind/);

    const bad = run(['status', '-p', policyFile, '--at', t('13:00')]);
    expect(bad.code).toBe(4);
    expect(bad.stdout).toMatch(/^e2e CRITICAL .*rpo BREACH \(exposure 5h\/4h\)/);

    const js = run(['status', '-p', policyFile, '--at', t('13:00'), '--json']);
    expect(js.code).toBe(4);
    const doc = JSON.parse(js.stdout) as { exitCode: number; policies: { policy: string; verdict: string; exitCode: number; findings: { code: string }[] }[] };
    expect(doc.exitCode).toBe(4);
    expect(doc.policies.map((x) => [x.policy, x.verdict, x.exitCode])).toEqual([['e2e', 'finding', 4]]);
    expect(doc.policies[0]!.findings.map((f) => f.code)).toContain('rpo-breach');
  });

  it('status --nagios: WARNING / CRITICAL with perfdata', () => {
    const warn = run(['status', '-p', policyFile, '--at', t('10:00'), '--nagios']);
    expect(warn.code).toBe(1);
    expect(warn.stdout).toMatch(/^TRIAD WARNING - e2e: 1 finding: target usb is 6h behind/);
    const perf = warn.stdout.split(' | ')[1]!.trim().split(' ');
    expect(perf).toEqual(expect.arrayContaining(['exposure=7200s;11520;14400;0', 'exposure_usb=21600s;11520;14400;0', 'restore_test_age_nas=3600s;2332800;2592000;0', 'rpo_within=100%;;;0;100']));
    for (const item of perf) expect(item).toMatch(/^[A-Za-z0-9_.-]+=[0-9.]+(s|%|B)?(;[0-9.]*){0,4}$/);

    const crit = run(['status', '-p', policyFile, '--at', t('13:00'), '--nagios']);
    expect(crit.code).toBe(2);
    expect(crit.stdout).toMatch(/^TRIAD CRITICAL - e2e: /);
  });
});

describe('with a real restore test', () => {
  it('`triad restore-test` at 09:30 becomes the latest evidence of every target in the report', () => {
    const r = run(['restore-test', '-p', policyFile, '--seed', '7', '--json'], t('09:30'));
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const p = jsonReport(t('10:00')).policies[0]!;
    const tests = p.restoreTests as unknown as { target: string; last: { at: string; ok: boolean; files: number } | null; overdue: boolean }[];
    expect(tests.map((x) => [x.target, x.last?.at, x.last?.ok, x.overdue])).toEqual(
      ['nas', 'usb', 'cloud'].map((n) => [n, new Date(t('09:30')).toISOString(), true, false]),
    );
    expect(tests.every((x) => (x.last?.files ?? 0) > 0)).toBe(true);
    expect(p.rto.targets.every((x) => x.evidence === 'fresh')).toBe(true);
    expect(p.rto.verdict).toBe('met');
    expect(p.verdict).toBe('compliant');
  });

  it('each target\'s restore-test duration is recorded and the report\'s history shows it, newest run first', () => {
    const cat = openCatalog(catalogFile, { readonly: true });
    let recorded: Record<string, number | null>;
    try {
      recorded = Object.fromEntries(cat.listRestoreTests('e2e', { since: t('09:30') }).map((x) => [x.target, x.duration_ms]));
    } finally {
      cat.close();
    }
    expect(Object.keys(recorded).sort()).toEqual(['cloud', 'nas', 'usb']);
    for (const ms of Object.values(recorded)) expect(ms).toBeGreaterThan(0);
    const history = (jsonReport(t('10:00')).policies[0] as unknown as { restoreTestHistory: { at: string; ok: boolean; durationMs: number | null; copies: { target: string; durationMs: number | null }[] }[] }).restoreTestHistory;
    // The 09:30 run, then the 09:00 evidence written without a duration (as before durations were recorded).
    expect(history.map((h) => h.at)).toEqual([t('09:30'), t('09:00')].map((x) => new Date(x).toISOString()));
    expect(Object.fromEntries(history[0]!.copies.map((c) => [c.target, c.durationMs]))).toEqual(recorded);
    expect(history[0]!.durationMs).toBeCloseTo(Object.values(recorded).reduce((n, ms) => n + ms!, 0), 6);
    expect(history[1]!.durationMs).toBeNull();
  });
});

describe('policies that cannot be evaluated normally', () => {
  it('a policy never backed up (no catalogue) is not judged yet: a warning says where the report looked; with objectives.since it is in breach from then; no catalogue is created', () => {
    const d = join(dir, 'fresh');
    mkdirSync(d, { recursive: true });
    const file = join(d, 'fresh.yaml');
    const text = readFileSync(policyFile, 'utf8').replace('policy: e2e', 'policy: fresh').replace(JSON.stringify(catalogFile), JSON.stringify(join(d, 'cat', 'catalog.db')));
    writeFileSync(file, text);
    const r = run(['report', '-p', file, '--at', t('10:00'), '--format', 'json']);
    expect(r.code).toBe(0);
    const p = (JSON.parse(r.stdout) as JsonReport).policies[0]!;
    expect(p.rpo.breaches).toEqual([]);
    expect(p.findings.map((f) => [f.code, f.severity, f.affectsCompliance])).toEqual([['no-history', 'warning', false]]);
    expect(p.findings[0]!.message).toContain('no catalogue at');
    const warn = run(['status', '-p', file, '--at', t('10:00'), '--nagios']);
    expect(warn.code).toBe(1);
    expect(warn.stdout).toMatch(/^TRIAD WARNING - fresh: /);

    // The contract began at 01:30: from then on the data was unprotected.
    writeFileSync(file, text.replace('objectives: {rpo: 4h, rto: 2h, window: 1d}', `objectives: {rpo: 4h, rto: 2h, window: 1d, since: "${t('01:30')}"}`));
    const since = run(['report', '-p', file, '--at', t('10:00'), '--format', 'json']);
    expect(since.code).toBe(4);
    const q = (JSON.parse(since.stdout) as JsonReport).policies[0]!;
    expect(q.verdict).toBe('finding');
    expect([q.obligationsStart, q.obligationsFrom]).toEqual([new Date(t('01:30')).toISOString(), 'since']);
    expect(q.rule.data).toBe('violated');
    expect(q.rpo.overall.breachSince).toBe(new Date(t('01:30')).toISOString());
    expect(q.rpo.targets.find((x) => x.target === 'nas')!.exposureMs).toBe(8.5 * H);
    expect(q.rto.verdict).toBe('no-evidence');
    expect(q.findings.map((f) => f.code)).toEqual(expect.arrayContaining(['rule-data', 'rpo-breach', 'rto-no-evidence', 'no-history']));
    expect(readdirSync(d)).toEqual(['fresh.yaml']);

    const nagios = run(['status', '-p', file, '--at', t('10:00'), '--nagios']);
    expect(nagios.code).toBe(2);
    expect(nagios.stdout).toMatch(/^TRIAD CRITICAL - fresh: /);
  });

  it('--nagios is UNKNOWN (3) when the policy or the catalogue cannot be read; plain status exits with the error code', () => {
    const d = join(dir, 'broken');
    mkdirSync(d, { recursive: true });
    const invalid = join(d, 'invalid.yaml');
    writeFileSync(invalid, 'version: 1\npolicy: [\n');
    const corrupt = join(d, 'corrupt.yaml');
    const corruptDb = join(d, 'corrupt.db');
    writeFileSync(corruptDb, 'this is not a SQLite database, just some bytes '.repeat(200));
    writeFileSync(corrupt, readFileSync(policyFile, 'utf8').replace('policy: e2e', 'policy: corrupt').replace(JSON.stringify(catalogFile), JSON.stringify(corruptDb)));

    const a = run(['status', '-p', invalid, '--nagios']);
    expect(a.code).toBe(3);
    expect(a.stdout).toMatch(/^TRIAD UNKNOWN - invalid\.yaml: /);
    const b = run(['status', '-p', corrupt, '--nagios']);
    expect(b.code).toBe(3);
    expect(b.stdout).toMatch(/^TRIAD UNKNOWN - corrupt: .*corrupt\.db/);
    const missing = run(['status', '-p', join(d, 'nope.yaml'), '--nagios']);
    expect(missing.code).toBe(3);
    const badAt = run(['status', '-p', policyFile, '--nagios', '--at', 'yesterday']);
    expect(badAt.code).toBe(3);
    expect(badAt.stdout).toContain('--at yesterday is not a date');

    // One line per policy; the worst state wins (CRITICAL over UNKNOWN over OK).
    const mixed = run(['status', '-p', invalid, '-p', policyFile, '--at', t('13:00'), '--nagios']);
    expect(mixed.code).toBe(2);
    expect(mixed.stdout.trim().split('\n').map((l) => l.split(' - ')[0])).toEqual(['TRIAD UNKNOWN', 'TRIAD CRITICAL']);

    const plain = run(['status', '-p', policyFile, '-p', invalid, '--at', t('10:00')]);
    expect(plain.code).toBe(2);
    expect(plain.stdout).toMatch(/^e2e WARNING /m);
    expect(plain.stdout).toMatch(/^invalid\.yaml ERROR .*\[E_POLICY_INVALID\]$/m);
    const corruptPlain = run(['status', '-p', corrupt]);
    expect(corruptPlain.code).toBe(1);
    expect(corruptPlain.stdout).toContain('[E_CATALOG]');
  });

  it('--policies DIR reads every *.yaml; usage errors exit 2', () => {
    const d = join(dir, 'dir-of-policies');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'e2e.yaml'), readFileSync(policyFile, 'utf8'));
    writeFileSync(join(d, 'notes.txt'), 'not a policy');
    const r = run(['report', '--policies', d, '--at', t('10:00'), '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as JsonReport).policies.map((p) => p.policy)).toEqual(['e2e']);

    expect(run(['report']).code).toBe(2);
    expect(run(['report', '-p', policyFile, '--format', 'pdf']).code).toBe(2);
    const w = run(['report', '-p', policyFile, '--window', 'soon']);
    expect(w.code).toBe(2);
    expect(w.stderr).toContain('--window soon');
    expect(run(['report', '--policies', join(dir, 'missing-dir')]).code).toBe(2);
  });

  it('--help shows examples', () => {
    for (const cmd of ['report', 'status']) {
      const r = triadShipped([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Examples:');
      expect(r.stdout).toContain(`$ triad ${cmd} `);
    }
  });
});

// ---- a small HTML structure checker: every non-void element closed in order -------------------

const VOID = new Set(['meta', 'br', 'hr', 'img', 'input', 'link', 'area', 'base', 'col', 'embed', 'source', 'track', 'wbr']);
const SVG_SELF_CLOSING = /\/\s*$/;

function parseHtml(html: string): { counts: Record<string, number>; text: string } {
  const body = html.replace(/^<!DOCTYPE html>\s*/i, '');
  const stack: string[] = [];
  const counts: Record<string, number> = {};
  const text: string[] = [];
  const re = /<(\/?)([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>|([^<]+)/g;
  let m: RegExpExecArray | null;
  let inStyle = false;
  while ((m = re.exec(body))) {
    if (m[4] !== undefined) {
      if (!inStyle) text.push(decode(m[4]));
      continue;
    }
    const [, close, rawName, attrs] = m;
    const name = rawName!.toLowerCase();
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open ?? 'nothing'}>`);
      if (name === 'style') inStyle = false;
      continue;
    }
    counts[name] = (counts[name] ?? 0) + 1;
    if (/[<]/.test(attrs!)) throw new Error(`unescaped < in the attributes of <${name}>`);
    if (VOID.has(name) || SVG_SELF_CLOSING.test(attrs!)) continue;
    stack.push(name);
    if (name === 'style') inStyle = true;
  }
  if (stack.length > 0) throw new Error(`unclosed elements: ${stack.join(' > ')}`);
  if (/<(?![a-zA-Z/!])/.test(body)) throw new Error('a bare < in the text');
  return { counts, text: text.join(' ').replace(/\s+/g, ' ') };
}

function decode(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}
