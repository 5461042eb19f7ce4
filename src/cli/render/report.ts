import { countOf, formatBytes, formatDuration, formatRate, formatTime } from '../../core/format.js';
import type { HistoryBasis, PerfDatum, PolicyReport, Severity, VerificationCoverage } from '../../compliance/types.js';
import { percentText } from '../../compliance/verification.js';
import { exposureChartSvg } from './exposure-chart.js';
import { FORECAST_MIN_POINTS, FORECAST_MIN_SPAN_MS } from '../../compliance/report.js';

/**
 * Renderers of the compliance report model: pure functions from PolicyReport to text, so
 * `report` and `status` print the same facts in every format. Colour is the caller's
 * decision, passed in as a style callback.
 */
export type TextStyle = 'ok' | 'warning' | 'critical' | 'heading' | 'dim';
export type Styler = (style: TextStyle, text: string) => string;

const plain: Styler = (_s, t) => t;
const sevStyle = (s: Severity): TextStyle => s;
const SEVERITY_LABEL: Record<Severity, string> = { ok: 'OK', warning: 'WARNING', critical: 'CRITICAL' };
const NAGIOS_LABEL = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

/** What a report is about: the policy, and in a fleet report the host whose backups of it are judged. */
export function subjectOf(r: Pick<PolicyReport, 'policy' | 'host'>): string {
  return r.host === undefined ? r.policy : `${r.policy} on ${r.host}`;
}

/** An HTML id for the report's section, unique across hosts. */
function anchorOf(r: PolicyReport): string {
  return r.host === undefined ? `policy-${r.policy}` : `policy-${r.host}-${r.policy}`;
}

/** The level every output shows, with what it means for the contract. */
export function levelText(r: PolicyReport): string {
  return `${SEVERITY_LABEL[r.severity]} (${r.verdict === 'compliant' ? 'within contract' : 'out of contract'})`;
}

const dur = (ms: number | null): string => (ms === null ? '-' : formatDuration(ms));
const pct = (p: number | null): string => (p === null ? '-' : `${p.toFixed(2)}%`);
const time = (d: Date | null | undefined, zone: string): string => (d ? formatTime(d, zone) : '-');

const NOT_ENOUGH_HISTORY = 'not enough history';
/** The minimum history a forecast needs, as the reports state it. */
export const FORECAST_MINIMUM_TEXT = `forecasts and trends need ${FORECAST_MIN_POINTS} samples over ${formatDuration(FORECAST_MIN_SPAN_MS)}`;

/** A trend figure, or why there is none. */
function trendCell(value: number | null, basis: HistoryBasis, show: (v: number) => string): string {
  if (!basis.enough) return NOT_ENOUGH_HISTORY;
  return value === null ? '-' : show(value);
}

/**
 * Findings quote commands between backticks; each renderer shows them as code: text parts go
 * through `text`, the quoted commands through `code`.
 */
export function withCodeSpans(s: string, text: (t: string) => string, code: (c: string) => string): string {
  return s.split(/`([^`]+)`/).map((part, i) => (i % 2 === 1 ? code(part) : text(part))).join('');
}

const signedDuration = (ms: number): string => `${ms >= 0 ? '+' : ''}${formatDuration(ms)}`;

function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length))).join('  ').trimEnd());
}

/** Plain-text report; `style` adds colour on a terminal. */
export function renderReportTable(reports: readonly PolicyReport[], opts: { style?: Styler } = {}): string {
  const st = opts.style ?? plain;
  const out: string[] = [];
  for (const r of reports) {
    out.push(st('heading', `Policy ${subjectOf(r)}`) + `  ${st(sevStyle(r.severity), levelText(r))}  at ${formatTime(r.at, r.zone)}, window ${formatDuration(r.windowMs)}`);
    out.push(`Rule ${r.rule.rule}: configured ${r.rule.configured}, data ${r.rule.data} (${countOf(r.rule.copies, 'copy', 'copies')}, ${countOf(r.rule.media.length, 'medium', 'media')}, ${r.rule.offsiteCopies} off-site)`);
    out.push(`${obligationsText(r)} Production data on ${r.productionMedia}.`);
    out.push('');
    out.push(st('heading', `RPO ${dur(r.objectives.rpoMs)}`));
    const rpoRows: string[][] = [['TARGET', 'MEDIA', 'OFFSITE', 'EXPOSURE', 'STATUS', 'WITHIN', 'WORST', 'BREACHES']];
    for (const t of r.rpo.targets) {
      const info = r.targets.find((x) => x.name === t.target);
      rpoRows.push([
        t.target,
        info?.media ?? '-',
        info?.offsite ? 'yes' : 'no',
        t.hasSnapshot ? dur(t.exposureMs) : 'no snapshot',
        t.breachSince ? 'BREACH' : t.within ? 'ok' : 'not due',
        pct(t.window.percentWithin),
        dur(t.window.worstExposureMs),
        String(r.rpo.breaches.filter((b) => b.scope === t.target).length),
      ]);
    }
    const o = r.rpo.overall;
    rpoRows.push(['overall', '', '', dur(o.exposureMs), o.breachSince ? 'BREACH' : o.within ? 'ok' : 'not due', pct(o.window.percentWithin), dur(o.window.worstExposureMs), String(r.rpo.breaches.filter((b) => b.scope === 'overall').length)]);
    out.push(...table(rpoRows).map((l) => colourStatus(l, st)));
    out.push('');
    out.push(st('heading', `RTO ${dur(r.objectives.rtoMs)}: ${r.rto.verdict}${r.rto.stale ? ' (stale evidence)' : ''}${r.rto.fastest ? `, fastest ${r.rto.fastest.target}` : ''}`));
    const rtoRows: string[][] = [['TARGET', 'SNAPSHOT SIZE', 'THROUGHPUT', 'ESTIMATE', 'EVIDENCE', 'VERDICT', 'LAST TEST', 'OVERDUE']];
    for (const t of r.rto.targets) {
      const rt = r.restoreTests.find((x) => x.target === t.target);
      rtoRows.push([
        t.target,
        t.snapshotBytes === null ? '-' : formatBytes(t.snapshotBytes),
        t.lastTest?.throughputBytesPerSec == null ? '-' : formatRate(t.lastTest.throughputBytesPerSec),
        dur(t.estimateMs),
        t.evidence,
        t.verdict,
        rt?.last ? `${time(rt.last.at, r.zone)} ${rt.last.ok ? 'passed' : 'FAILED'}` : '-',
        rt?.overdue ? `by ${formatDuration(rt.overdueByMs)}` : 'no',
      ]);
    }
    out.push(...table(rtoRows));
    out.push('');
    const history = restoreHistorySection(r);
    out.push(st('heading', history.title));
    if (history.table) out.push(...table([history.table.head.map((h) => h.toUpperCase()), ...history.table.rows.map((cells) => cells.map(cellText))]).map((l) => colourStatus(l, st)));
    for (const p of history.before) out.push(`  ${p}`);
    out.push('');
    out.push(st('heading', 'Backups'));
    const bRows: string[][] = [['TARGET', 'LAST SUCCESS', 'LAST FAILURE', 'FAILURES', 'PARTIAL', 'MEAN RUN', 'TREND/DAY']];
    for (const b of r.backups) {
      bRows.push([
        b.target,
        time(b.lastSuccess?.at, r.zone),
        b.lastFailure ? `${time(b.lastFailure.at, r.zone)} ${b.lastFailure.error}` : '-',
        String(b.failuresInWindow.length),
        String(b.partialSnapshots.length),
        dur(b.trend.meanMs),
        trendCell(b.trend.slopeMsPerDay, b.trend.history, signedDuration),
      ]);
    }
    out.push(...table(bRows));
    if (r.capacity.length > 0) {
      out.push('');
      out.push(st('heading', 'Capacity'));
      const cRows: string[][] = [['TARGET', 'USED', 'FREE', 'STORED', 'GROWTH/DAY', 'DAYS LEFT', 'RATIO']];
      for (const c of r.capacity) {
        cRows.push([
          c.target,
          pct(c.usedPercent),
          c.freeBytes === null ? '-' : formatBytes(c.freeBytes),
          c.storedBytes === null ? '-' : formatBytes(c.storedBytes),
          trendCell(c.growthBytesPerDay, c.history, formatBytes),
          trendCell(c.daysLeft, c.history, (d) => String(Math.floor(d))),
          c.reductionRatio === null ? '-' : `${c.reductionRatio.toFixed(2)}x`,
        ]);
      }
      out.push(...table(cRows));
    }
    if (r.backups.some((b) => !b.trend.history.enough) || r.capacity.some((c) => !c.history.enough)) out.push(st('dim', `(${FORECAST_MINIMUM_TEXT})`));
    if (r.keys.length > 0 || r.keyProofEveryMs !== null) {
      out.push('');
      out.push(st('heading', `Recovery keys${r.keyProofEveryMs === null ? '' : `: prove every ${formatDuration(r.keyProofEveryMs)}`}`));
      if (r.keys.length === 0) out.push('  no key proven yet (triad key verify)');
      else out.push(...table([['KEY', 'LAST PROVEN', 'AGE', 'TARGETS', 'OVERDUE'], ...r.keys.map((k) => [k.key.slice(0, 16), time(k.lastProvedAt, r.zone), dur(k.ageMs), k.targets.join(', ') || '-', k.overdue ? 'yes' : 'no'])]));
    }
    if (r.verification) out.push('', ...verificationTable(r.verification, r.zone, st));
    out.push('');
    out.push(st('heading', 'Findings'));
    if (r.findings.length === 0) out.push('  none');
    for (const f of r.findings) {
      out.push(`  ${st(sevStyle(f.severity), SEVERITY_LABEL[f.severity].padEnd(8))} ${f.message}`);
      if (f.action) out.push(`           ${st('dim', '→ ' + f.action)}`);
    }
    out.push('');
  }
  return out.join('\n');
}

function colourStatus(line: string, st: Styler): string {
  return line.replace(/\bBREACH\b/, st('critical', 'BREACH')).replace(/\bFAILED\b/, st('critical', 'FAILED'));
}

/** Current version of the JSON document; bumped only on incompatible changes. */
export const REPORT_JSON_SCHEMA = 'triad.report/v3';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function toJson(v: unknown): Json {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(toJson);
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'object') {
    const o: { [k: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = toJson(x);
    return o;
  }
  // What is left: bigint, symbol, function; only a bigint has a JSON reading.
  return typeof v === 'bigint' ? v.toString() : null;
}

/**
 * The stable JSON document: times as ISO-8601 UTC strings, durations in milliseconds
 * (fields ending in Ms), sizes in bytes, keys in model order.
 */
export function renderReportJson(reports: readonly PolicyReport[]): { schema: string; policies: Json[] } {
  return { schema: REPORT_JSON_SCHEMA, policies: reports.map(toJson) };
}

/** Markdown, pasteable into a ticket. */
/** A cell of a report table; `level` colours it in HTML and is spelled out in its text anyway. */
export interface ReportCell {
  readonly text: string;
  readonly level?: Severity;
}

/**
 * One section of a policy's report, as both the HTML page and the markdown render it, so the
 * two show the same sections in the same order with the same figures. Paragraph text may quote
 * commands between backticks (see withCodeSpans).
 */
export interface ReportSection {
  readonly id: 'matrix' | 'rpo' | 'breaches' | 'rto' | 'restore-tests' | 'restore-history' | 'backups' | 'capacity' | 'keys' | 'verification' | 'findings';
  readonly title: string;
  readonly before: readonly string[];
  readonly table?: { readonly head: readonly string[]; readonly rows: readonly (readonly (string | ReportCell)[])[] };
  readonly after: readonly string[];
}

/** The sections of one policy's report, in reading order. */
export function reportSections(r: PolicyReport): ReportSection[] {
  const z = r.zone;
  const out: ReportSection[] = [];
  const status = (breach: boolean, within: boolean): ReportCell => (breach ? { text: 'BREACH', level: 'critical' } : { text: within ? 'ok' : 'not due', level: 'ok' });
  out.push({
    id: 'matrix',
    title: '3-2-1 matrix',
    before: [`Rule ${r.rule.rule}: configured ${r.rule.configured}, actual ${r.rule.data}: ${countOf(r.rule.copies, 'copy', 'copies')} counting production, ${countOf(r.rule.media.length, 'medium', 'media')} (${r.rule.media.join(', ')}), ${r.rule.offsiteCopies} off-site, ${r.rule.immutableOrOfflineCopies} immutable or offline.`],
    table: {
      head: ['Copy', 'Media', 'Off-site', 'Immutable/offline', 'Counts now'],
      rows: [
        ['production', r.productionMedia, 'no', 'no', 'yes'],
        ...r.targets.map((t) => {
          const c = r.rule.targets.find((x) => x.target === t.name);
          return [t.name, t.media, t.offsite ? 'yes' : 'no', t.immutable || t.offline ? 'yes' : 'no', c?.counts ? 'yes' : `no (${c?.reason ?? 'unknown'})`];
        }),
      ],
    },
    after: r.rule.shortfalls.length > 0 ? [`Short of the rule: ${r.rule.shortfalls.join('; ')}`] : [],
  });
  const o = r.rpo.overall;
  out.push({
    id: 'rpo',
    title: `RPO ${dur(r.objectives.rpoMs)} per copy`,
    before: [],
    table: {
      head: ['Copy', 'Exposure now', 'Status', 'Within RPO', 'Worst'],
      rows: [
        ...r.rpo.targets.map((t) => [t.target, t.hasSnapshot ? dur(t.exposureMs) : 'no snapshot', status(t.breachSince !== null, t.within), pct(t.window.percentWithin), dur(t.window.worstExposureMs)]),
        ['overall', dur(o.exposureMs), status(o.breachSince !== null, o.within), pct(o.window.percentWithin), dur(o.window.worstExposureMs)],
      ],
    },
    after: [],
  });
  out.push({
    id: 'breaches',
    title: 'Breaches',
    before: r.rpo.breaches.length === 0 ? [`None in the last ${formatDuration(r.windowMs)}.`] : [],
    ...(r.rpo.breaches.length === 0 ? {} : { table: { head: ['Of', 'Start', 'End', 'Length'], rows: r.rpo.breaches.map((b) => [b.scope, formatTime(b.start, z), b.end ? formatTime(b.end, z) : 'ongoing', formatDuration(b.durationMs)]) } }),
    after: [],
  });
  out.push({
    id: 'rto',
    title: `RTO ${dur(r.objectives.rtoMs)} evidence: ${r.rto.verdict}${r.rto.stale ? ' (stale evidence)' : ''}`,
    before: [],
    table: {
      head: ['Copy', 'Snapshot size', 'Measured throughput', 'Estimate', 'Margin', 'Evidence age', 'Verdict'],
      rows: r.rto.targets.map((t) => [
        t.target, t.snapshotBytes === null ? '-' : formatBytes(t.snapshotBytes), t.lastTest?.throughputBytesPerSec == null ? '-' : formatRate(t.lastTest.throughputBytesPerSec),
        dur(t.estimateMs), r.objectives.rtoMs === null || t.estimateMs === null ? '-' : signedDuration(r.objectives.rtoMs - t.estimateMs), t.lastTest ? `${formatDuration(t.lastTest.ageMs)} (${t.evidence})` : 'none', t.verdict,
      ]),
    },
    after: [],
  });
  out.push({
    id: 'restore-tests',
    title: `Restore tests (every ${formatDuration(r.objectives.restoreEveryMs)})`,
    before: [],
    table: {
      head: ['Copy', 'Latest', 'Result', 'Files', 'Last passed', 'Next due', 'Failures in window'],
      rows: r.restoreTests.map((t) => [
        t.target, time(t.last?.at, z), t.last ? (t.last.ok ? { text: 'passed', level: 'ok' } : { text: `FAILED (${countOf(t.last.failures, 'file', 'files')})`, level: 'critical' }) : 'none', t.last ? String(t.last.files) : '-',
        time(t.lastSuccessAt, z), t.overdue ? { text: `OVERDUE by ${formatDuration(t.overdueByMs)}`, level: 'critical' } : time(t.dueAt, z), t.failuresInWindow.map((f) => formatTime(f.at, z)).join(', ') || 'none',
      ]),
    },
    after: [],
  });
  out.push(restoreHistorySection(r));
  out.push({
    id: 'backups',
    title: 'Backups',
    before: [],
    table: {
      head: ['Copy', 'Last success', 'Last failure', 'Failures in window', 'Partial', 'Mean run', 'Run-time trend/day'],
      rows: r.backups.map((b) => [
        b.target, b.lastSuccess ? `${formatTime(b.lastSuccess.at, z)} (${formatDuration(b.lastSuccess.durationMs)})` : '-', b.lastFailure ? `${formatTime(b.lastFailure.at, z)}: ${b.lastFailure.error}` : '-',
        String(b.failuresInWindow.length), String(b.partialSnapshots.length), dur(b.trend.meanMs), trendCell(b.trend.slopeMsPerDay, b.trend.history, signedDuration),
      ]),
    },
    after: [],
  });
  out.push({
    id: 'capacity',
    title: 'Capacity',
    before: r.capacity.length === 0 ? ['No capacity figures.'] : [],
    ...(r.capacity.length === 0 ? {} : { table: { head: ['Copy', 'Used', 'Free', 'Stored', 'Growth/day', 'Days left', 'Reduction'], rows: r.capacity.map((c) => [
      c.target, pct(c.usedPercent), c.freeBytes === null ? '-' : formatBytes(c.freeBytes), c.storedBytes === null ? '-' : formatBytes(c.storedBytes),
      trendCell(c.growthBytesPerDay, c.history, formatBytes), trendCell(c.daysLeft, c.history, (d) => String(Math.floor(d))), c.reductionRatio === null ? '-' : `${c.reductionRatio.toFixed(2)}x`,
    ]) } }),
    after: [`${FORECAST_MINIMUM_TEXT}.`],
  });
  if (r.keys.length > 0 || r.keyProofEveryMs !== null) {
    out.push({
      id: 'keys',
      title: `Recovery keys${r.keyProofEveryMs === null ? '' : `: prove every ${formatDuration(r.keyProofEveryMs)}`}`,
      before: r.keys.length === 0 ? ['No key proven yet (`triad key verify`).'] : [],
      ...(r.keys.length === 0 ? {} : { table: { head: ['Key', 'Last proven', 'Age', 'Targets', 'Overdue'], rows: r.keys.map((k) => [k.key.slice(0, 16), time(k.lastProvedAt, z), dur(k.ageMs), k.targets.join(', ') || '-', k.overdue ? { text: 'yes', level: 'critical' as const } : 'no']) } }),
      after: [],
    });
  }
  if (r.verification) out.push(verificationSection(r.verification, z));
  out.push({ id: 'findings', title: 'Findings, worst first', before: r.findings.length === 0 ? ['None.'] : [], after: [] });
  return out;
}

/** Every restore test in the window, newest first: one row per copy tested. */
function restoreHistorySection(r: PolicyReport): ReportSection {
  const title = `Restore-test history (last ${formatDuration(r.windowMs)})`;
  const rows = restoreHistoryRows(r);
  if (rows.length === 0) {
    const last = r.lastRestoreTest;
    const before = last ? `No restore test in the window; the latest finished ${formatTime(last.at, r.zone)} (${formatDuration(last.ageMs)} ago).` : 'No restore test yet.';
    return { id: 'restore-history', title, before: [before], after: [] };
  }
  return { id: 'restore-history', title, before: [], table: { head: RESTORE_HISTORY_HEAD, rows }, after: [] };
}

const RESTORE_HISTORY_HEAD = ['Finished', 'Copy', 'Sample', 'Result', 'Duration', 'Measured throughput'];

/** The history's rows, shared by the table output and the page. */
function restoreHistoryRows(r: PolicyReport): ReportCell[][] {
  return r.restoreTestHistory.flatMap((run) => run.copies.map((c): ReportCell[] => [
    { text: formatTime(run.at, r.zone) },
    { text: c.target },
    { text: `${countOf(c.files, 'file', 'files')}, ${formatBytes(c.bytes)}` },
    c.ok ? { text: 'passed', level: 'ok' } : { text: `FAILED (${c.failures} of ${countOf(c.files, 'file', 'files')})`, level: 'critical' },
    { text: c.durationMs === null ? 'not recorded' : formatDuration(c.durationMs) },
    { text: c.throughputBytesPerSec === null ? '-' : formatRate(c.throughputBytesPerSec) },
  ]));
}

const cellText = (c: string | ReportCell): string => (typeof c === 'string' ? c : c.text);

export function renderReportMarkdown(reports: readonly PolicyReport[]): string {
  const md = (s: string): string => s.replace(/([\\|*_`[\]<>#])/g, '\\$1').replace(/\r?\n/g, ' ');
  const mdCode = (t: string): string => withCodeSpans(t.replace(/\r?\n/g, ' '), md, (c) => `\`${c}\``);
  const row = (cells: readonly (string | ReportCell)[]): string => `| ${cells.map((c) => md(cellText(c))).join(' | ')} |`;
  const out: string[] = ['## Verdict', ''];
  for (const r of reports) out.push(`- **${SEVERITY_LABEL[r.severity]}** ${mdCode(verdictSentence(r))}`);
  out.push('');
  if (reports.length > 1) {
    out.push('### Summary', '', row(SUMMARY_HEAD), `|${SUMMARY_HEAD.map(() => '---').join('|')}|`);
    for (const r of reports) out.push(row(summaryRow(r)));
    out.push('');
  }
  for (const r of reports) {
    out.push(`## Policy ${md(subjectOf(r))}: ${levelText(r)}`, '');
    if (r.description) out.push(md(r.description), '');
    out.push(`Evaluated at ${formatTime(r.at, r.zone)} over the last ${formatDuration(r.windowMs)} (from ${formatTime(r.windowStart, r.zone)}). ${obligationsText(r)}`, '');
    for (const sec of reportSections(r)) {
      out.push(`### ${md(sec.title)}`, '');
      for (const p of sec.before) out.push(mdCode(p), '');
      if (sec.table) {
        out.push(row(sec.table.head), `|${sec.table.head.map(() => '---').join('|')}|`);
        for (const cells of sec.table.rows) out.push(row(cells));
        out.push('');
      }
      if (sec.id === 'findings') {
        for (const f of r.findings) out.push(`- **${SEVERITY_LABEL[f.severity]}** ${mdCode(f.message)}${f.action ? ` — ${mdCode(f.action)}` : ''}`);
        if (r.findings.length > 0) out.push('');
      }
      for (const p of sec.after) out.push(mdCode(p), '');
    }
  }
  return out.join('\n');
}

const SUMMARY_HEAD = ['Policy', 'Level', 'Contract', 'RPO exposure', 'RTO', 'Last restore test', 'Findings'];

/** The summary table's row of one policy (HTML and markdown). */
function summaryRow(r: PolicyReport): string[] {
  const test = r.lastRestoreTest;
  return [
    subjectOf(r), SEVERITY_LABEL[r.severity], r.verdict === 'compliant' ? 'within' : 'out of contract', `${dur(r.rpo.overall.exposureMs)} / ${dur(r.objectives.rpoMs)}`, r.rto.verdict,
    test ? `${formatDuration(test.ageMs)} ago, ${test.ok ? 'passed' : 'FAILED'}` : 'none', String(r.findings.filter((f) => f.severity !== 'ok').length),
  ];
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * The one sentence a reader needs per policy, e.g. "finance: within contract for the last 30d;
 * last restore test 12d ago passed in 4m on nas and cloud; RTO 2h met with 1h 50m margin on nas".
 */
export function verdictSentence(r: PolicyReport): string {
  const parts = [contractClause(r), restoreTestClause(r), rtoClause(r)].filter((p) => p !== '');
  const warning = r.findings.find((f) => f.severity === 'warning' && !NOT_STARTED_CODES.includes(f.code));
  if (r.severity === 'warning' && warning) parts.push(`warning: ${warning.message}`);
  return `${subjectOf(r)}: ${parts.join('; ')}`;
}

/** Findings that say no obligation is judged yet: no snapshot, or no record at all. */
const NOT_STARTED_CODES: readonly string[] = ['not-started', 'no-history'];

function contractClause(r: PolicyReport): string {
  const critical = r.findings.filter((f) => f.severity === 'critical');
  const breach = rpoBreachClause(r);
  if (breach !== null) return `out of contract ${breach}${critical.length > 1 ? ` (${countOf(critical.length, 'critical finding', 'critical findings')} in all)` : ''}`;
  if (critical[0]) {
    const more = critical.length > 1 ? ` (and ${countOf(critical.length - 1, 'more critical finding', 'more critical findings')})` : '';
    return `out of contract: ${critical[0].message}${more}`;
  }
  const notStarted = r.findings.find((f) => NOT_STARTED_CODES.includes(f.code));
  if (notStarted) return `not started: ${notStarted.message}`;
  const w = r.rpo.overall.window;
  if (w.percentWithin !== null && w.percentWithin < 100) return `within contract now; RPO met ${w.percentWithin.toFixed(2)}% of the last ${formatDuration(r.windowMs)}`;
  // Obligations that began inside the window: "for the last 30d" would claim days nothing was due.
  const evaluatedFrom = r.at.getTime() - w.evaluatedMs;
  if (w.percentWithin !== null && evaluatedFrom > r.windowStart.getTime()) return `within contract since ${formatTime(new Date(evaluatedFrom), r.zone)}, when its obligations began`;
  return `within contract for the last ${formatDuration(r.windowMs)}`;
}

/** "since 2026-05-04 06:00 CEST: RPO 4h exceeded on nas and usb, exposure 5h", or null without an ongoing RPO breach. */
function rpoBreachClause(r: PolicyReport): string | null {
  const { overall } = r.rpo;
  if (overall.breachSince === null || r.objectives.rpoMs === null) return null;
  const late = r.rpo.targets.filter((t) => t.breachSince !== null).map((t) => t.target);
  const where = late.length > 0 ? ` on ${listText(late)}` : '';
  const exposure = overall.exposureMs === null ? 'no set of copies meets the rule' : `exposure ${formatDuration(overall.exposureMs)}`;
  return `since ${formatTime(overall.breachSince, r.zone)}: RPO ${formatDuration(r.objectives.rpoMs)} exceeded${where}, ${exposure}`;
}

function restoreTestClause(r: PolicyReport): string {
  const overdue = r.restoreTests.filter((t) => t.overdue).sort((a, b) => b.overdueByMs - a.overdueByMs)[0];
  const due = overdue ? `, a restore test of ${overdue.target} is overdue by ${formatDuration(overdue.overdueByMs)}` : '';
  const last = r.lastRestoreTest;
  if (!last) return `no restore test yet${due}`;
  const took = last.durationMs === null ? '' : ` in ${formatDuration(last.durationMs)}`;
  const failed = last.copies.filter((c) => !c.ok);
  const result = failed.length === 0
    ? `passed${took} on ${listText(last.copies.map((c) => c.target))}`
    : `FAILED${took} on ${listText(failed.map((c) => `${c.target} (${c.failures} of ${countOf(c.files, 'file', 'files')})`))}`;
  return `last restore test ${formatDuration(last.ageMs)} ago ${result}${due}`;
}

function rtoClause(r: PolicyReport): string {
  const rto = r.objectives.rtoMs;
  if (rto === null) return '';
  const fastest = r.rto.fastest;
  const stale = r.rto.stale ? ', on stale evidence' : '';
  if (r.rto.verdict === 'met' && fastest) return `RTO ${formatDuration(rto)} met with ${formatDuration(rto - fastest.estimateMs)} margin on ${fastest.target}${stale}`;
  if (r.rto.verdict === 'exceeded' && fastest) return `RTO ${formatDuration(rto)} exceeded by ${formatDuration(fastest.estimateMs - rto)}: the fastest copy, ${fastest.target}, restores in ${formatDuration(fastest.estimateMs)}${stale}`;
  return `RTO ${formatDuration(rto)} not demonstrated: no copy with a snapshot has a passing restore test`;
}

/** "a", "a and b", "a, b and c". */
function listText(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]!}`;
}

const HTML_STYLE = [
  'body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:60em}',
  'table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top}',
  '.ok{color:#1e7d32}.warning{color:#8a5300}.critical{color:#b71c1c}.level{font-weight:bold;border:1px solid;padding:0 .3em}',
  '.verdict{font-size:1.1em}.chart text{font-size:11px;fill:#222}.rpo-label{font-weight:bold}',
  'code{font-family:ui-monospace,monospace;background:#f2f2f2;padding:0 .2em}',
  '@page{size:A4;margin:15mm}',
  // Each policy after the first starts a page (the first follows the verdict: `:first-of-type` would
  // match the verdict's section, not it); a heading stays with what follows, a table or chart is not cut.
  '@media print{body{margin:0;max-width:none}section.policy{break-before:page}section.verdicts+section.policy{break-before:auto}svg{max-width:100%;height:auto}h2,h3{break-after:avoid}table,figure,tr{break-inside:avoid}}',
].join('');

/** One self-contained HTML page (inline CSS and SVG, no external assets, works offline); all text escaped. */
export function renderReportHtml(reports: readonly PolicyReport[], opts: { title?: string } = {}): string {
  const e = escapeHtml;
  const title = opts.title ?? 'triad compliance report';
  const body: string[] = [];
  const level = (r: PolicyReport): string => `<span class="level ${r.severity}">${e(SEVERITY_LABEL[r.severity])}</span>`;
  const rows = (head: readonly string[], data: readonly (readonly string[])[]): string =>
    `<table><tr>${head.map((h) => `<th>${e(h)}</th>`).join('')}</tr>${data.map((d) => `<tr>${d.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</table>`;
  body.push('<section class="verdicts"><h2>Verdict</h2>');
  for (const r of reports) body.push(`<p class="verdict">${level(r)} ${e(verdictSentence(r))}</p>`);
  if (reports.length > 1) {
    body.push('<h3>Summary</h3>' + rows(SUMMARY_HEAD, reports.map((r) => {
      const [policy, , ...rest] = summaryRow(r);
      return [`<a href="#${e(anchorOf(r))}">${e(policy!)}</a>`, level(r), ...rest.map(e)];
    })));
  }
  body.push('</section>');
  for (const r of reports) {
    const z = r.zone;
    body.push(`<section class="policy" id="${e(anchorOf(r))}"><h2>Policy ${e(subjectOf(r))} ${level(r)} <small>(${r.verdict === 'compliant' ? 'within contract' : 'out of contract'})</small></h2>`);
    if (r.description) body.push(`<p>${e(r.description)}</p>`);
    body.push(`<p>Evaluated at ${e(formatTime(r.at, z))} over the last ${e(formatDuration(r.windowMs))} (from ${e(formatTime(r.windowStart, z))}). <span class="obligations">${e(obligationsText(r))}</span></p>`);

    const html = (t: string): string => withCodeSpans(t, e, (c) => `<code>${e(c)}</code>`);
    const cell = (c: string | ReportCell): string => (typeof c === 'string' ? e(c) : `<span class="${c.level ?? ''}">${e(c.text)}</span>`);
    for (const sec of reportSections(r)) {
      body.push(`<h3>${e(sec.title)}</h3>`);
      for (const p of sec.before) body.push(`<p>${html(p)}</p>`);
      if (sec.table) body.push(rows(sec.table.head, sec.table.rows.map((cells) => cells.map(cell))));
      if (sec.id === 'rpo') {
        r.rpo.targets.forEach((t, i) => {
          body.push(`<figure><figcaption>Exposure of ${e(t.target)} over the window</figcaption>${exposureChartSvg({
            id: `${reports.indexOf(r)}-${i}`, title: `exposure of ${t.target} over the window`, series: t.series, rpoMs: r.objectives.rpoMs, from: r.windowStart, to: r.at, zone: z,
            breaches: r.rpo.breaches.filter((b) => b.scope === t.target), lastBackup: t.recoveryPoint, escape: e,
          })}</figure>`);
        });
      }
      if (sec.id === 'findings' && r.findings.length > 0) {
        body.push(`<ul>${r.findings.map((f) => `<li class="${f.severity}"><b>${SEVERITY_LABEL[f.severity]}</b> ${html(f.message)}${f.action ? ` — ${html(f.action)}` : ''}</li>`).join('')}</ul>`);
      }
      for (const p of sec.after) body.push(sec.id === 'matrix' ? `<p class="critical">${html(p)}</p>` : `<p><small>${html(p)}</small></p>`);
    }
    body.push('</section>');
  }
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${e(title)}</title>
<style>${HTML_STYLE}</style>
</head><body><h1>${e(title)}</h1>
${body.join('\n')}
</body></html>
`;
}

/** Prometheus label value escaping (backslash, double quote, newline). */
function labelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

interface Family {
  readonly help: string;
  readonly samples: string[];
}

/**
 * Prometheus text exposition (node_exporter textfile collector): one HELP and TYPE line per
 * metric family, all gauges, seconds and bytes as base units, timestamps in Unix seconds.
 */
export function renderPrometheus(reports: readonly PolicyReport[]): string {
  const families = new Map<string, Family>();
  const put = (name: string, help: string, labels: Record<string, string>, value: number | null): void => {
    if (value === null || !Number.isFinite(value)) return;
    let f = families.get(name);
    if (!f) families.set(name, (f = { help, samples: [] }));
    const l = Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`).join(',');
    f.samples.push(`${name}{${l}} ${value}`);
  };
  const s = (ms: number | null | undefined): number | null => (ms === null || ms === undefined ? null : ms / 1000);
  const ts = (d: Date | null | undefined): number | null => (d ? d.getTime() / 1000 : null);
  for (const r of reports) {
    const p: Record<string, string> = r.host === undefined ? { policy: r.policy } : { host: r.host, policy: r.policy };
    put('triad_report_timestamp_seconds', 'Time the report was evaluated at.', p, ts(r.at));
    put('triad_compliant', '1 when the policy has no compliance finding.', p, r.verdict === 'compliant' ? 1 : 0);
    put('triad_rule_compliant', '1 when the data meets the 3-2-1 rule now (also 1 when the rule is off).', { ...p, rule: r.rule.rule }, r.rule.data === 'violated' ? 0 : 1);
    put('triad_copies', 'Copies of the data that count now, production included.', p, r.rule.copies);
    put('triad_media', 'Distinct media of the production data and the copies that count now.', p, r.rule.media.length);
    put('triad_production_media_info', 'The production data\'s declared medium (production.media), as a label.', { ...p, media: r.productionMedia }, 1);
    put('triad_obligations_start_timestamp_seconds', 'When the policy\'s obligations started (objectives.since, else the end of the first backup).', p, ts(r.obligationsStart));
    put('triad_unprotected_paths', 'Directories and mount points under coverage.roots that no policy backs up.', p, r.findings.filter((f) => f.code === 'unprotected-data').length);
    put('triad_rpo_target_seconds', 'Contracted recovery point objective.', p, s(r.objectives.rpoMs));
    put('triad_rto_target_seconds', 'Contracted recovery time objective.', p, s(r.objectives.rtoMs));
    put('triad_rpo_compliant', '1 when within the RPO now.', { ...p, target: 'overall' }, r.rpo.overall.within ? 1 : 0);
    put('triad_rpo_exposure_seconds', 'Now minus the recovery point of the newest complete snapshot.', { ...p, target: 'overall' }, s(r.rpo.overall.exposureMs));
    put('triad_rpo_window_within_ratio', 'Fraction of the window spent within the RPO.', { ...p, target: 'overall' }, r.rpo.overall.window.percentWithin === null ? null : r.rpo.overall.window.percentWithin / 100);
    for (const t of r.rpo.targets) {
      const l = { ...p, target: t.target };
      put('triad_rpo_compliant', '1 when within the RPO now.', l, t.within ? 1 : 0);
      put('triad_rpo_exposure_seconds', 'Now minus the recovery point of the newest complete snapshot.', l, s(t.exposureMs));
      put('triad_rpo_window_within_ratio', 'Fraction of the window spent within the RPO.', l, t.window.percentWithin === null ? null : t.window.percentWithin / 100);
      put('triad_rpo_worst_exposure_seconds', 'Largest exposure in the window.', l, s(t.window.worstExposureMs));
      put('triad_last_snapshot_recovery_point_timestamp_seconds', 'Recovery point of the newest complete snapshot.', l, ts(t.recoveryPoint));
    }
    for (const t of r.rto.targets) {
      const l = { ...p, target: t.target };
      put('triad_rto_estimate_seconds', 'Estimated full-restore time of the latest snapshot.', l, s(t.estimateMs));
      put('triad_rto_evidence_stale', '1 when the latest restore test is older than restore_test.every.', l, t.evidence === 'none' ? null : t.evidence === 'stale' ? 1 : 0);
      put('triad_restore_throughput_bytes_per_second', 'Throughput measured by the latest restore test.', l, t.lastTest?.throughputBytesPerSec ?? null);
    }
    for (const t of r.restoreTests) {
      const l = { ...p, target: t.target };
      put('triad_restore_test_age_seconds', 'Age of the latest restore test.', l, s(t.ageMs));
      put('triad_restore_test_last_success', '1 when the latest restore test passed.', l, t.last ? (t.last.ok ? 1 : 0) : null);
      put('triad_restore_test_last_timestamp_seconds', 'Time of the latest restore test.', l, ts(t.last?.at));
      put('triad_restore_test_last_success_timestamp_seconds', 'Time of the latest passing restore test.', l, ts(t.lastSuccessAt));
      put('triad_restore_test_overdue', '1 when a restore test is overdue.', l, t.overdue ? 1 : 0);
    }
    for (const b of r.backups) {
      const l = { ...p, target: b.target };
      put('triad_last_backup_success_timestamp_seconds', 'End of the latest successful backup.', l, ts(b.lastSuccess?.at));
      put('triad_last_backup_failure_timestamp_seconds', 'End of the latest failed backup.', l, ts(b.lastFailure?.at));
      put('triad_last_backup_duration_seconds', 'Duration of the latest successful backup.', l, s(b.lastSuccess?.durationMs));
      put('triad_backup_failures_window', 'Failed backups in the window.', l, b.failuresInWindow.length);
    }
    for (const c of r.capacity) {
      const l = { ...p, target: c.target };
      put('triad_target_used_ratio', 'Used fraction of the target file system.', l, c.usedPercent === null ? null : c.usedPercent / 100);
      put('triad_target_free_bytes', 'Free bytes on the target file system.', l, c.freeBytes);
      put('triad_target_stored_bytes', 'Bytes stored in the repository on the target.', l, c.storedBytes);
      put('triad_target_time_to_full_seconds', 'Forecast time until the target file system is full at the growth seen in the window.', l, c.daysLeft === null ? null : c.daysLeft * 86_400);
    }
    for (const k of r.keys) {
      const l = { ...p, key: k.key.slice(0, 16) };
      put('triad_key_last_proven_timestamp_seconds', 'Time a recovery key was last proven to open every target (triad key verify).', l, ts(k.lastProvedAt));
      put('triad_key_proof_overdue', '1 when the key was not proven within keys.prove_every.', l, k.overdue ? 1 : 0);
    }
    for (const v of r.verification?.targets ?? []) {
      const l = { ...p, target: v.target };
      put('triad_verified_ratio', 'Share of the stored bytes read whole and verified within verify.every.', l, v.verifiedRatio);
      put('triad_verified_bytes', 'Stored bytes read whole and verified within verify.every.', l, v.verifiedBytes);
      put('triad_never_verified_packs', 'Packs never read whole and verified.', l, v.neverVerifiedPacks);
      put('triad_oldest_verification_timestamp_seconds', 'Time of the least recent whole verification of any pack.', l, ts(v.oldestVerifiedAt));
      put('triad_failed_packs', 'Packs whose last verification found them damaged, not repaired since.', l, v.failedPacks);
    }
    if (r.verification) put('triad_verify_every_seconds', 'verify.every: the period in which every stored byte must be verified.', p, s(r.verification.everyMs));
    put('triad_findings', 'Findings by severity.', { ...p, severity: 'critical' }, r.findings.filter((f) => f.severity === 'critical').length);
    put('triad_findings', 'Findings by severity.', { ...p, severity: 'warning' }, r.findings.filter((f) => f.severity === 'warning').length);
  }
  const out: string[] = [];
  for (const [name, f] of families) out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} gauge`, ...f.samples);
  return out.join('\n') + '\n';
}

/** One line per policy for `triad status`: "finance OK rule 3-2-1 met rpo ok (exposure 1h 2m/4h) …". */
export function renderStatusLine(r: PolicyReport): string {
  const o = r.rpo.overall;
  const first = r.findings.find((f) => f.severity !== 'ok');
  return [
    subjectOf(r),
    SEVERITY_LABEL[r.severity],
    `rule ${r.rule.rule} ${r.rule.data}`,
    `rpo ${o.breachSince ? 'BREACH' : 'ok'} (exposure ${dur(o.exposureMs)}/${dur(r.objectives.rpoMs)})`,
    `rto ${r.rto.verdict}`,
    ...(first ? [`- ${first.message}`] : []),
  ].join(' ');
}

function perfItem(d: PerfDatum): string {
  const label = /^[A-Za-z0-9_.-]+$/.test(d.label) ? d.label : `'${d.label.replace(/'/g, "''")}'`;
  const opt = (n: number | undefined): string => (n === undefined ? '' : String(n));
  return `${label}=${d.value}${d.uom};${opt(d.warn)};${opt(d.crit)};${opt(d.min)};${opt(d.max)}`.replace(/;+$/, '');
}

/** The Nagios plugin line ("TRIAD CRITICAL - finance: … | exposure=…") and its exit status. */
export function renderNagios(r: PolicyReport): { text: string; exitCode: 0 | 1 | 2 | 3 } {
  const status = r.nagios.status;
  const worst = r.findings.filter((f) => f.severity !== 'ok');
  const summary = worst.length === 0 ? 'compliant' : `${countOf(worst.length, 'finding', 'findings')}: ${worst[0]!.message}`;
  const perf = r.nagios.perfdata.map(perfItem).join(' ');
  return { text: `TRIAD ${NAGIOS_LABEL[status]} - ${subjectOf(r)}: ${summary.replace(/\|/g, '/')}${perf ? ` | ${perf}` : ''}`, exitCode: status };
}

/** For a policy that could not be evaluated at all (catalogue unreadable, policy invalid). */
export function renderNagiosUnknown(policy: string, reason: string): { text: string; exitCode: 3 } {
  return { text: `TRIAD UNKNOWN - ${policy}: ${reason.replace(/\|/g, '/').replace(/\r?\n/g, ' ')}`, exitCode: 3 };
}

/** Verification-coverage rows of one copy: share verified within the period, the oldest, the failed. */
function verificationRows(v: VerificationCoverage, zone: string): (string | ReportCell)[][] {
  return v.targets.map((t) => {
    const share = t.verifiedRatio === null ? '-' : percentText(t.verifiedRatio);
    const due = v.dueFrom !== null && v.dueFrom.getTime() <= v.at.getTime();
    return [
      t.target,
      t.verifiedRatio === null || t.verifiedRatio >= 1 || !due ? share : { text: share, level: 'warning' },
      `${formatBytes(t.verifiedBytes)} of ${formatBytes(t.storedBytes)}`,
      t.neverVerifiedPacks > 0 ? `${countOf(t.neverVerifiedPacks, 'pack', 'packs')} never` : t.oldestVerifiedAgeMs === null ? '-' : `${formatDuration(t.oldestVerifiedAgeMs)} (${formatTime(t.oldestVerifiedAt!, zone)})`,
      t.failedPacks > 0 ? { text: `${countOf(t.failedPacks, 'pack', 'packs')} FAILED`, level: 'critical' } : 'none',
    ];
  });
}

const VERIFICATION_HEAD = ['Copy', 'Verified', 'Bytes verified', 'Oldest verification', 'Failed, not repaired'];

/** Whether the share is judged yet: full coverage is due one verify.every after obligations started. */
function coverageDueText(v: VerificationCoverage, zone: string): string {
  if (v.dueFrom === null) return 'full coverage is due one period after the first backup';
  return v.dueFrom.getTime() > v.at.getTime() ? `full coverage is due from ${formatTime(v.dueFrom, zone)}` : 'full coverage is due';
}

function verificationNote(v: VerificationCoverage, zone: string): string {
  return `Stored bytes read whole and verified by \`triad check --read-data\` (or \`--read-data-subset auto\`) within the last ${formatDuration(v.everyMs)} (verify.every); ${coverageDueText(v, zone)}.`;
}

function verificationSection(v: VerificationCoverage, zone: string): ReportSection {
  return { id: 'verification', title: `Verification coverage (every ${formatDuration(v.everyMs)})`, before: [verificationNote(v, zone)], table: { head: VERIFICATION_HEAD, rows: verificationRows(v, zone) }, after: [] };
}

function verificationTable(v: VerificationCoverage, zone: string, st: Styler): string[] {
  const rows = verificationRows(v, zone).map((cells) => cells.map(cellText));
  return [st('heading', `Verification coverage: every ${formatDuration(v.everyMs)}`), ...table([VERIFICATION_HEAD.map((h) => h.toUpperCase()), ...rows]), st('dim', `(read whole by check within verify.every; ${coverageDueText(v, zone)})`)];
}

/** Since when the policy is judged, and why from then. */
function obligationsText(r: PolicyReport): string {
  if (r.obligationsStart === null) return 'Obligations not started: no backup has completed yet.';
  const why = r.obligationsFrom === 'since' ? 'objectives.since' : 'the end of the first backup';
  return `Obligations since ${formatTime(r.obligationsStart, r.zone)} (${why}).`;
}
