import { describe, expect, it } from 'vitest';
import { buildPolicyReport, leastSquares, type PolicyReportInput } from '../../src/compliance/report.js';
import type { PolicyReport, SnapshotCopy, TargetInfo } from '../../src/compliance/types.js';
import {
  escapeHtml,
  renderNagios,
  renderPrometheus,
  renderReportHtml,
  renderReportJson,
  renderReportMarkdown,
  renderReportTable,
  renderStatusLine,
  verdictSentence,
} from '../../src/cli/render/report.js';

const H = 3_600_000;
const D = 24 * H;
const AT = new Date('2024-03-31T00:00:00Z');
const ago = (ms: number): Date => new Date(AT.getTime() - ms);

const nas: TargetInfo = { name: 'nas', media: 'nas', offsite: false, immutable: false, offline: false, local: true };
const cloud: TargetInfo = { name: 'cloud', media: 'object-storage', offsite: true, immutable: false, offline: false };

const snap = (target: string, rpAgo: number, partial = false): SnapshotCopy => ({
  snapshotId: `${target}-${rpAgo / H}h`, target, recoveryPoint: ago(rpAgo), completedAt: ago(rpAgo - 600_000), bytes: 36e9, partial,
});

/** Backups every 4h for 40 days on both targets, restore tests 10 days ago: compliant, no warning (warn_at 99%). */
function healthy(): PolicyReportInput {
  const snapshots: SnapshotCopy[] = [];
  const runs = [];
  for (let k = 1; k <= 240; k++) {
    for (const t of ['nas', 'cloud']) {
      snapshots.push(snap(t, k * 4 * H));
      runs.push({ target: t, startedAt: ago(k * 4 * H), finishedAt: ago(k * 4 * H - 600_000), ok: true });
    }
  }
  return {
    policy: { name: 'finance', description: 'Finance <files> & "db"', rule: '3-2-1', production: { media: 'disk' }, keys: {}, objectives: { rpo: 4 * H + 600_000, rto: 2 * H, window: 30 * D, warn_at: 99 }, restore_test: { every: 30 * D } },
    targets: [nas, cloud],
    snapshots,
    runs,
    restoreTests: ['nas', 'cloud'].map((t) => ({ at: ago(10 * D), target: t, ok: true, files: 50, bytes: 1e9, overheadMs: 60_000, transferMs: 10_000, failures: 0 })),
    verifications: [],
    capacity: [{ target: 'nas', usedBytes: 50e9, freeBytes: 50e9, storedHistory: [{ at: ago(20 * D), bytes: 10e9 }, { at: ago(10 * D), bytes: 20e9 }, { at: ago(0), bytes: 30e9 }], logicalBytes: 90e9 }],
    obligationsStart: ago(40 * D),
    at: AT,
  };
}

describe('buildPolicyReport', () => {
  it('a healthy policy is compliant: exit 0, Nagios OK, no findings above ok', () => {
    const r = buildPolicyReport(healthy());
    expect(r.findings).toEqual([]);
    expect(r.verdict).toBe('compliant');
    expect(r.exitCode).toBe(0);
    expect(r.nagios.status).toBe(0);
    expect(r.rpo.overall.window.percentWithin).toBe(100);
    expect(r.rto.verdict).toBe('met');
    const cap = r.capacity[0]!;
    expect(cap.usedPercent).toBe(50);
    expect(cap.growthBytesPerDay).toBeCloseTo(1e9, 3); // 10 GB per 10 days
    expect(cap.daysLeft).toBeCloseTo(50, 6);
    expect(cap.reductionRatio).toBe(3);
    expect(r.backups[0]!.trend.slopeMsPerDay).toBe(0);
    expect(r.backups[0]!.trend.meanMs).toBe(600_000);
  });

  it.each([
    {
      name: 'cloud stopped 12h ago → overall RPO breach and rule violation: critical, exit 4',
      patch: (i: PolicyReportInput): PolicyReportInput => ({ ...i, snapshots: i.snapshots.filter((s) => !(s.target === 'cloud' && s.recoveryPoint.getTime() > AT.getTime() - 12 * H)) }),
      nagios: 2, exit: 4, codes: ['rule-data', 'rpo-breach', 'rpo-target-breach'],
    },
    {
      name: 'restore tests 40 days old → overdue (out of contract) and stale RTO: critical, exit 4',
      patch: (i: PolicyReportInput): PolicyReportInput => ({ ...i, restoreTests: i.restoreTests.map((t) => ({ ...t, at: ago(40 * D) })) }),
      nagios: 2, exit: 4, codes: ['restore-test-overdue', 'restore-test-overdue', 'rto-stale'],
    },
    {
      name: 'a full disk and a failed last run → warnings that do not break compliance: exit 0',
      patch: (i: PolicyReportInput): PolicyReportInput => ({
        ...i,
        capacity: [{ target: 'nas', usedBytes: 90e9, freeBytes: 10e9 }],
        runs: [...i.runs, { target: 'nas', startedAt: ago(H), finishedAt: ago(H - 1000), ok: false, error: 'NAS unreachable' }],
      }),
      nagios: 1, exit: 0, codes: ['backup-failed', 'capacity'],
    },
    {
      name: 'the latest restore test on cloud found damage → critical',
      patch: (i: PolicyReportInput): PolicyReportInput => ({ ...i, restoreTests: [...i.restoreTests, { at: ago(D), target: 'cloud', ok: false, files: 50, bytes: 1e9, overheadMs: 1, transferMs: 1, failures: 3 }] }),
      nagios: 2, exit: 4, codes: ['restore-test-failed'],
    },
  ])('$name', ({ patch, nagios, exit, codes }) => {
    const r = buildPolicyReport(patch(healthy()));
    expect(r.findings.map((f) => f.code)).toEqual(codes);
    expect(r.nagios.status).toBe(nagios);
    expect(r.exitCode).toBe(exit);
    const ranks = r.findings.map((f) => ({ critical: 0, warning: 1, ok: 2 })[f.severity]);
    expect(ranks).toEqual([...ranks].sort());
  });

  it.each([
    {
      name: 'exposure past warn_at (default 80%) of the RPO → WARNING, still within contract',
      patch: (i: PolicyReportInput): PolicyReportInput => ({ ...i, policy: { ...i.policy, objectives: { ...i.policy.objectives, warn_at: undefined } } }),
      code: 'rpo-near', message: 'exposure 4h is past 80% of the RPO 4h 10m: a breach 2024-03-31 00:10 UTC unless a backup completes',
    },
    {
      name: 'a restore test due within 3 days → WARNING',
      patch: (i: PolicyReportInput): PolicyReportInput => ({ ...i, restoreTests: i.restoreTests.map((t) => ({ ...t, at: ago(28 * D) })) }),
      code: 'restore-test-due', message: 'restore test on nas due 2024-04-02 00:00 UTC',
    },
    {
      name: 'capacity forecast under 30 days → WARNING',
      patch: (i: PolicyReportInput): PolicyReportInput => ({ ...i, capacity: [{ ...i.capacity![0]!, freeBytes: 25e9 }] }),
      code: 'capacity', message: 'nas: 66.7% used, about 25 days left at the current growth',
    },
  ])('$name', ({ patch, code, message }) => {
    const r = buildPolicyReport(patch(healthy()));
    const f = r.findings.find((x) => x.code === code);
    expect(f).toMatchObject({ severity: 'warning', message, affectsCompliance: false });
    expect([r.severity, r.verdict, r.exitCode, r.nagios.status]).toEqual(['warning', 'compliant', 0, 1]);
  });

  it('warn_at is a share of the RPO: at 97% an exposure of 4h of 4h 10m (96%) does not warn, at 95.9% it does', () => {
    const at = (pct: number): string[] =>
      buildPolicyReport({ ...healthy(), policy: { ...healthy().policy, objectives: { ...healthy().policy.objectives, warn_at: pct } } }).findings.map((f) => f.code);
    expect(at(97)).toEqual([]);
    expect(at(95.9)).toEqual(['rpo-near']);
  });

  it('a stale target is told to copy from the fresh one', () => {
    const i = healthy();
    const r = buildPolicyReport({ ...i, snapshots: i.snapshots.filter((s) => !(s.target === 'cloud' && s.recoveryPoint.getTime() > AT.getTime() - 12 * H)) });
    const f = r.findings.find((x) => x.code === 'rpo-target-breach')!;
    expect(f.target).toBe('cloud');
    expect(f.action).toBe('run `triad copy -p finance --from nas --to cloud`');
    // Last cloud snapshot: recovery point 12h ago; breach since RP + RPO = 7h 50m ago.
    expect(r.rpo.targets.find((t) => t.target === 'cloud')!.breachSince).toEqual(ago(12 * H - 4 * H - 600_000));
  });

  it('a forecast needs 3 samples over 3 days: 2 samples or 2 days give none, 3 over 3 days give one', () => {
    const cap = (days: number[]): { growth: number | null; daysLeft: number | null; enough: boolean } => {
      const c = buildPolicyReport({ ...healthy(), capacity: [{ target: 'nas', usedBytes: 50e9, freeBytes: 50e9, storedHistory: days.map((d, i) => ({ at: ago(d * D), bytes: (i + 1) * 1e9 })) }] }).capacity[0]!;
      return { growth: c.growthBytesPerDay, daysLeft: c.daysLeft, enough: c.history.enough };
    };
    expect(cap([3, 0])).toEqual({ growth: null, daysLeft: null, enough: false });
    expect(cap([2, 1, 0])).toEqual({ growth: null, daysLeft: null, enough: false });
    const three = cap([3, 1.5, 0]);
    expect(three.enough).toBe(true);
    expect(three.growth).toBeCloseTo(1e9 / 1.5, 3);
    expect(three.daysLeft).toBeCloseTo(75, 6);
  });

  it('no targets → Nagios UNKNOWN', () => {
    expect(buildPolicyReport({ ...healthy(), targets: [] }).nagios.status).toBe(3);
  });

  it('leastSquares gives the exact slope and refuses degenerate input', () => {
    expect(leastSquares([[0, 1], [1, 3], [2, 5]])).toBe(2);
    expect(leastSquares([[1, 1]])).toBeNull();
    expect(leastSquares([[1, 1], [1, 2]])).toBeNull();
  });
});

describe('findings as people read them', () => {
  const inFile = (): PolicyReportInput => ({ ...healthy(), policy: { ...healthy().policy, file: "/etc/triad/bob's policies/finance.yaml" } });
  const damaged = (): PolicyReport =>
    buildPolicyReport({ ...inFile(), restoreTests: [...healthy().restoreTests, { at: ago(D), target: 'cloud', ok: false, files: 50, bytes: 1e9, overheadMs: 1, transferMs: 1, failures: 1 }] });

  it('commands name the policy file, quoted for the shell when needed; counts are in the right number', () => {
    const f = damaged().findings.find((x) => x.code === 'restore-test-failed')!;
    expect(f.message).toMatch(/failed: 1 file did not restore or verify$/);
    expect(f.action).toBe(
      "run `triad check -p '/etc/triad/bob'\\''s policies/finance.yaml' --target cloud --read-data`, then `triad repair packs -p '/etc/triad/bob'\\''s policies/finance.yaml' --target cloud`",
    );
    expect(renderNagios(damaged()).text).toMatch(/^TRIAD CRITICAL - finance: 1 finding: /);
    expect(renderReportTable([damaged()])).toContain('(3 copies, 3 media, 1 off-site)');
  });

  it('html shows commands as code, never raw backticks; markdown keeps them as code spans', () => {
    const html = renderReportHtml([damaged()]);
    expect(html).toContain("<code>triad repair packs -p &#39;/etc/triad/bob&#39;\\&#39;&#39;s policies/finance.yaml&#39; --target cloud</code>");
    expect(html).not.toContain('`');
    const md = renderReportMarkdown([damaged()]);
    expect(md).toContain("`triad repair packs -p '/etc/triad/bob'\\''s policies/finance.yaml' --target cloud`");
    expect(md).not.toContain('\\`');
  });
});

describe('renderers', () => {
  const broken = buildPolicyReport({
    ...healthy(),
    targets: [nas, { ...cloud, name: 'cl"oud\\x' }],
    snapshots: healthy().snapshots.map((s) => (s.target === 'cloud' ? { ...s, target: 'cl"oud\\x' } : s)),
  });
  const good = buildPolicyReport(healthy());

  it('prometheus output is valid text exposition, line by line', () => {
    const text = renderPrometheus([good, broken]);
    const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
    const help = new RegExp(`^# HELP (${name}) [^\\n]+$`);
    const type = new RegExp(`^# TYPE (${name}) (gauge|counter|untyped|summary|histogram)$`);
    const sample = new RegExp(`^(${name})\\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*")*)?\\} (-?[0-9.e+-]+|NaN|[+-]Inf)$`);
    const typed = new Set<string>();
    let current = '';
    const lines = text.trimEnd().split('\n');
    for (const line of lines) {
      const h = help.exec(line);
      const t = type.exec(line);
      const s = sample.exec(line);
      expect(h || t || s, line).toBeTruthy();
      if (t) {
        expect(typed.has(t[1]!), `second TYPE for ${t[1]}`).toBe(false);
        typed.add(t[1]!);
        current = t[1]!;
      }
      if (s) expect(s[1]).toBe(current);
    }
    expect(text).toContain('triad_rpo_exposure_seconds{policy="finance",target="nas"} 14400\n');
    expect(text).toContain('target="cl\\"oud\\\\x"');
    expect(text).toContain('triad_rto_estimate_seconds{policy="finance",target="nas"} 420\n');
    expect(text).toContain('triad_restore_test_age_seconds{policy="finance",target="nas"} 864000\n');
    expect(text).toMatch(/^triad_last_backup_success_timestamp_seconds\{policy="finance",target="nas"\} 1711829400$/m);
    expect(text).toMatch(/^triad_rpo_compliant\{policy="finance",target="overall"\} 1$/m);
  });

  it('html is one self-contained page with every text escaped', () => {
    const html = renderReportHtml([good], { title: '<script>alert(1)</script>' });
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('Finance &lt;files&gt; &amp; &quot;db&quot;');
    expect(html).not.toMatch(/(src|href)=/);
    expect(html).toContain('<polyline');
    expect(escapeHtml(`a<b>&"'`)).toBe('a&lt;b&gt;&amp;&quot;&#39;');
  });

  it('json is a stable, serialisable document with ISO times', () => {
    const doc = renderReportJson([good]);
    const again = JSON.parse(JSON.stringify(doc));
    expect(again.schema).toBe('triad.report/v3');
    expect(again.policies[0].at).toBe('2024-03-31T00:00:00.000Z');
    expect(again.policies[0].verdict).toBe('compliant');
    expect(again.policies[0].rpo.targets[0].exposureMs).toBe(4 * H);
    expect(JSON.stringify(renderReportJson([good]))).toBe(JSON.stringify(doc));
  });

  it('table, markdown and the status line carry the verdict; colour comes from the callback', () => {
    const styled = renderReportTable([good], { style: (s, t) => (s === 'heading' ? `[${t}]` : t) });
    expect(styled).toContain('[Policy finance]');
    expect(styled).toMatch(/^overall\s+4h\s+ok\s+100\.00%/m);
    expect(renderReportTable([good])).not.toContain('[Policy');
    expect(renderReportMarkdown([good])).toContain('## Policy finance: OK (within contract)');
    expect(renderReportMarkdown([broken])).toContain('cl"oud\\\\x');
    expect(renderStatusLine(good)).toBe('finance OK rule 3-2-1 met rpo ok (exposure 4h/4h 10m) rto met');
  });

  it('the Nagios line has the plugin status and perfdata', () => {
    const n = renderNagios(good);
    expect(n.exitCode).toBe(0);
    expect(n.text).toMatch(/^TRIAD OK - finance: compliant \| /);
    expect(n.text).toContain('exposure=14400s;14850;15000;0 ');
    expect(n.text).toContain('restore_test_age_nas=864000s;2332800;2592000;0');
    expect(n.text).toContain('used_nas=50%;85;95;0;100');
    const b = renderNagios(buildPolicyReport({ ...healthy(), restoreTests: [] }));
    expect(b.exitCode).toBe(2);
    expect(b.text).toMatch(/^TRIAD CRITICAL - finance: 3 findings: no restore test on nas yet, due for 10d | /);
  });
});

describe('the verdict sentence and the restore-test history', () => {
  /**
   * Restore tests 12 days ago (run 7) that took 2m per copy and measured a throughput that
   * makes the 36 GB snapshot restore in 10m 1s: the RTO margin 2h − 10m 1s = 1h 49m 59s reads "1h 50m".
   */
  const tested = (): PolicyReportInput => ({
    ...healthy(),
    restoreTests: ['nas', 'cloud'].map((t) => ({ at: ago(12 * D), target: t, runId: 7, durationMs: 120_000, ok: true, files: 50, bytes: 1e9, overheadMs: 60_000, transferMs: 541_000 / 36, failures: 0 })),
  });
  const sentence = (i: PolicyReportInput): string => verdictSentence(buildPolicyReport(i));

  it('compliant: window, last test with its duration and copies, RTO margin rounded like every figure', () => {
    const r = buildPolicyReport(tested());
    expect(r.rto.fastest?.estimateMs).toBeCloseTo(601_000, 6);
    expect(verdictSentence(r)).toBe('finance: within contract for the last 30d; last restore test 12d ago passed in 4m on nas and cloud; RTO 2h met with 1h 50m margin on nas');
    expect(renderReportMarkdown([r])).toContain('| nas | 33.5 GiB | 63.5 MiB/s | 10m 1s | +1h 50m | 12d (fresh) | met |');
  });

  it('warning, failed test, RTO exceeded: each says what and where', () => {
    const i = tested();
    const due = { ...i, restoreTests: i.restoreTests.map((t) => ({ ...t, at: ago(28 * D) })) };
    expect(sentence(due)).toBe('finance: within contract for the last 30d; last restore test 28d ago passed in 4m on nas and cloud; RTO 2h met with 1h 50m margin on nas; warning: restore test on nas due 2024-04-02 00:00 UTC');
    const failed = { ...i, restoreTests: [...i.restoreTests, { at: ago(D), target: 'cloud', runId: 9, durationMs: 180_000, ok: false, files: 50, bytes: 1e9, overheadMs: 1, transferMs: 1, failures: 3 }] };
    expect(sentence(failed)).toMatch(/^finance: out of contract: .*; last restore test 1d ago FAILED in 3m on cloud \(3 of 50 files\); RTO 2h met with 1h 50m margin on nas$/);
    const tight = { ...i, policy: { ...i.policy, objectives: { ...i.policy.objectives, rto: 5 * 60_000 } } };
    expect(sentence(tight)).toMatch(/; RTO 5m exceeded by 5m 1s: the fastest copy, nas, restores in 10m 1s$/);
  });

  it('breached: out of contract since the RPO breach began, where and by how much, and how many findings in all', () => {
    const i = tested();
    const r = buildPolicyReport({ ...i, snapshots: i.snapshots.filter((s) => !(s.target === 'cloud' && s.recoveryPoint.getTime() > AT.getTime() - 12 * H)) });
    expect(r.findings.filter((f) => f.severity === 'critical')).toHaveLength(3);
    // Cloud's newest recovery point is 12h old: a breach of the 4h 10m RPO since 7h 50m ago.
    expect(verdictSentence(r)).toBe('finance: out of contract since 2024-03-30 16:10 UTC: RPO 4h 10m exceeded on cloud, exposure 12h (3 critical findings in all); last restore test 12d ago passed in 4m on nas and cloud; RTO 2h met with 1h 50m margin on nas');
    // Without an RPO breach, the worst finding leads.
    const failed = buildPolicyReport({ ...i, restoreTests: [...i.restoreTests, { at: ago(D), target: 'cloud', runId: 9, ok: false, files: 50, bytes: 1e9, overheadMs: 1, transferMs: 1, failures: 3 }] });
    expect(verdictSentence(failed)).toMatch(/^finance: out of contract: the latest restore test on cloud \(2024-03-30 00:00 UTC\) failed: 3 files did not restore or verify; /);
  });

  it('not started: no snapshot, no restore test, no RTO evidence', () => {
    const i = healthy();
    expect(sentence({ ...i, snapshots: [], runs: [], restoreTests: [], obligationsStart: null })).toBe(
      'finance: not started: policy finance has no committed snapshot yet: its RPO is judged from the first one (set objectives.since when the contract began earlier); no restore test yet; RTO 2h not demonstrated: no copy with a snapshot has a passing restore test',
    );
  });

  it('the history lists every test in the window newest first, per copy, in markdown, table and JSON', () => {
    const i = tested();
    const r = buildPolicyReport({
      ...i,
      policy: { ...i.policy, production: { media: 'ssd' } },
      restoreTests: [
        { at: ago(40 * D), target: 'nas', runId: 3, durationMs: 60_000, ok: true, files: 9, bytes: 1e6, overheadMs: 1, transferMs: 1000, failures: 0 },
        ...i.restoreTests,
        { at: ago(2 * D), target: 'cloud', runId: 9, durationMs: 185_000, ok: false, files: 50, bytes: 1e9, overheadMs: 1, transferMs: 8_000, failures: 3 },
        { at: ago(2 * D), target: 'nas', runId: 9, ok: true, files: 50, bytes: 1e9, overheadMs: 1, transferMs: 4_000, failures: 0 },
      ],
    });
    expect(r.restoreTestHistory.map((x) => [x.ok, x.durationMs, x.copies.map((c) => c.target)])).toEqual([[false, null, ['cloud', 'nas']], [true, 240_000, ['nas', 'cloud']]]);
    expect(r.lastRestoreTest?.at).toEqual(ago(2 * D));
    const md = renderReportMarkdown([r]);
    const history = md.slice(md.indexOf('### Restore-test history (last 30d)'), md.indexOf('### Backups'));
    expect(history.split('\n').filter((l) => l.startsWith('| 2024'))).toEqual([
      '| 2024-03-29 00:00 UTC | cloud | 50 files, 953.7 MiB | FAILED (3 of 50 files) | 3m 5s | 119.2 MiB/s |',
      '| 2024-03-29 00:00 UTC | nas | 50 files, 953.7 MiB | passed | not recorded | 238.4 MiB/s |',
      '| 2024-03-19 00:00 UTC | nas | 50 files, 953.7 MiB | passed | 2m | 63.5 MiB/s |',
      '| 2024-03-19 00:00 UTC | cloud | 50 files, 953.7 MiB | passed | 2m | 63.5 MiB/s |',
    ]);
    expect(md).toContain('| production | ssd | no | no | yes |');
    expect(renderReportTable([r])).toMatch(/^Restore-test history \(last 30d\)\nFINISHED +COPY +SAMPLE +RESULT +DURATION +MEASURED THROUGHPUT\n2024-03-29 00:00 UTC +cloud +50 files, 953\.7 MiB +FAILED \(3 of 50 files\) +3m 5s +119\.2 MiB\/s$/m);
    const json = JSON.parse(JSON.stringify(renderReportJson([r]))) as { policies: { productionMedia: string; restoreTestHistory: { at: string; copies: { target: string; durationMs: number | null }[] }[] }[] };
    expect(json.policies[0]!.productionMedia).toBe('ssd');
    expect(json.policies[0]!.restoreTestHistory.map((x) => [x.at, x.copies.map((c) => c.durationMs)])).toEqual([['2024-03-29T00:00:00.000Z', [185_000, null]], ['2024-03-19T00:00:00.000Z', [120_000, 120_000]]]);
  });

  it('a test recorded before durations were says nothing about how long it took', () => {
    expect(sentence(healthy())).toBe('finance: within contract for the last 30d; last restore test 10d ago passed on nas and cloud; RTO 2h met with 1h 53m margin on nas');
    const r = buildPolicyReport({ ...healthy(), restoreTests: healthy().restoreTests.map((t) => ({ ...t, at: ago(35 * D) })), windowMs: 30 * D });
    expect(renderReportMarkdown([r])).toContain('No restore test in the window; the latest finished 2024-02-25 00:00 UTC (35d ago).');
  });
});
