import { countOf, formatBytes, formatDuration, formatRate, formatTime } from '../../core/format.js';
import type { HistoryBasis, PerfDatum, PolicyReport, Severity } from '../../compliance/types.js';
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
    out.push(st('heading', `Policy ${r.policy}`) + `  ${st(sevStyle(r.severity), levelText(r))}  at ${formatTime(r.at, r.zone)}, window ${formatDuration(r.windowMs)}`);
    out.push(`Rule ${r.rule.rule}: configured ${r.rule.configured}, data ${r.rule.data} (${countOf(r.rule.copies, 'copy', 'copies')}, ${countOf(r.rule.media.length, 'medium', 'media')}, ${r.rule.offsiteCopies} off-site)`);
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
  return line.replace(/\bBREACH\b/, st('critical', 'BREACH'));
}

/** Current version of the JSON document; bumped only on incompatible changes. */
export const REPORT_JSON_SCHEMA = 'triad.report/v2';

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
export function renderReportMarkdown(reports: readonly PolicyReport[]): string {
  const md = (s: string): string => s.replace(/([\\|*_`[\]<>#])/g, '\\$1').replace(/\r?\n/g, ' ');
  const row = (cells: readonly string[]): string => `| ${cells.map(md).join(' | ')} |`;
  const out: string[] = [];
  for (const r of reports) {
    out.push(`## Policy ${md(r.policy)}: ${levelText(r)}`, '');
    out.push(`Evaluated at ${formatTime(r.at, r.zone)} over ${formatDuration(r.windowMs)}. Rule ${md(r.rule.rule)}: configured ${r.rule.configured}, data ${r.rule.data}.`, '');
    out.push(`### RPO ${dur(r.objectives.rpoMs)}`, '');
    out.push(row(['Target', 'Exposure', 'Status', 'Within RPO', 'Worst']), '|---|---|---|---|---|');
    for (const t of r.rpo.targets) out.push(row([t.target, t.hasSnapshot ? dur(t.exposureMs) : 'no snapshot', t.breachSince ? 'breach' : t.within ? 'ok' : 'not due', pct(t.window.percentWithin), dur(t.window.worstExposureMs)]));
    const o = r.rpo.overall;
    out.push(row(['overall', dur(o.exposureMs), o.breachSince ? 'breach' : o.within ? 'ok' : 'not due', pct(o.window.percentWithin), dur(o.window.worstExposureMs)]), '');
    if (r.rpo.breaches.length > 0) {
      out.push(row(['Breach of', 'Start', 'End', 'Length']), '|---|---|---|---|');
      for (const b of r.rpo.breaches) out.push(row([b.scope, formatTime(b.start, r.zone), b.end ? formatTime(b.end, r.zone) : 'ongoing', formatDuration(b.durationMs)]));
      out.push('');
    }
    out.push(`### RTO ${dur(r.objectives.rtoMs)}: ${r.rto.verdict}${r.rto.stale ? ' (stale evidence)' : ''}`, '');
    out.push(row(['Target', 'Estimate', 'Evidence', 'Verdict', 'Last test', 'Overdue']), '|---|---|---|---|---|---|');
    for (const t of r.rto.targets) {
      const rt = r.restoreTests.find((x) => x.target === t.target);
      out.push(row([t.target, dur(t.estimateMs), t.evidence, t.verdict, rt?.last ? `${formatTime(rt.last.at, r.zone)} ${rt.last.ok ? 'passed' : 'failed'}` : '-', rt?.overdue ? formatDuration(rt.overdueByMs) : 'no']));
    }
    if (r.keys.length > 0 || r.keyProofEveryMs !== null) {
      out.push('', `### Recovery keys${r.keyProofEveryMs === null ? '' : `: prove every ${formatDuration(r.keyProofEveryMs)}`}`, '');
      if (r.keys.length === 0) out.push('No key proven yet (`triad key verify`).');
      else {
        out.push(row(['Key', 'Last proven', 'Age', 'Targets', 'Overdue']), '|---|---|---|---|---|');
        for (const k of r.keys) out.push(row([k.key.slice(0, 16), time(k.lastProvedAt, r.zone), dur(k.ageMs), k.targets.join(', ') || '-', k.overdue ? 'yes' : 'no']));
      }
    }
    out.push('', '### Findings', '');
    if (r.findings.length === 0) out.push('None.');
    const mdCode = (t: string): string => withCodeSpans(t.replace(/\r?\n/g, ' '), md, (c) => `\`${c}\``);
    for (const f of r.findings) out.push(`- **${SEVERITY_LABEL[f.severity]}** ${mdCode(f.message)}${f.action ? ` — ${mdCode(f.action)}` : ''}`);
    out.push('');
  }
  return out.join('\n');
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** "finance: within contract for the last 30d; last restore test 12d ago passed; RTO 2h met with 1h 50m margin". */
export function verdictSentence(r: PolicyReport): string {
  const parts: string[] = [];
  const within = r.rpo.overall.window.percentWithin;
  const firstOf = (s: Severity): string | undefined => r.findings.find((f) => f.severity === s)?.message;
  if (r.severity === 'critical') parts.push(`out of contract: ${firstOf('critical') ?? 'see the findings'}`);
  else if (within === null || within === 100) parts.push(`within contract for the last ${formatDuration(r.windowMs)}`);
  else parts.push(`within contract now; RPO met ${within.toFixed(2)}% of the last ${formatDuration(r.windowMs)}`);
  const last = r.restoreTests.flatMap((t) => (t.last ? [{ ...t.last, ageMs: t.ageMs ?? 0 }] : [])).sort((a, b) => b.at.getTime() - a.at.getTime())[0];
  parts.push(last ? `last restore test ${formatDuration(last.ageMs)} ago ${last.ok ? 'passed' : 'FAILED'}` : 'no restore test yet');
  const rto = r.objectives.rtoMs;
  if (rto !== null) {
    if (r.rto.verdict === 'met' && r.rto.fastest) parts.push(`RTO ${formatDuration(rto)} met with ${formatDuration(rto - r.rto.fastest.estimateMs)} margin (${r.rto.fastest.target})`);
    else if (r.rto.verdict === 'exceeded') parts.push(`RTO ${formatDuration(rto)} exceeded`);
    else parts.push(`RTO ${formatDuration(rto)} not demonstrated`);
  }
  if (r.severity === 'warning') parts.push(`warning: ${firstOf('warning') ?? ''}`);
  return `${r.policy}: ${parts.join('; ')}`;
}

const HTML_STYLE = [
  'body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:60em}',
  'table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top}',
  '.ok{color:#1e7d32}.warning{color:#8a5300}.critical{color:#b71c1c}.level{font-weight:bold;border:1px solid;padding:0 .3em}',
  '.verdict{font-size:1.1em}.chart text{font-size:11px;fill:#222}.rpo-label{font-weight:bold}',
  'code{font-family:ui-monospace,monospace;background:#f2f2f2;padding:0 .2em}',
  '@page{size:A4;margin:15mm}',
  '@media print{body{margin:0;max-width:none}section.policy{break-before:page}section.policy:first-of-type{break-before:auto}svg{max-width:100%;height:auto}}',
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
    body.push('<h3>Summary</h3>' + rows(['Policy', 'Level', 'Contract', 'RPO exposure', 'RTO', 'Findings'], reports.map((r) => [
      `<a href="#policy-${e(r.policy)}">${e(r.policy)}</a>`, level(r), r.verdict === 'compliant' ? 'within' : 'out of contract',
      e(`${dur(r.rpo.overall.exposureMs)} / ${dur(r.objectives.rpoMs)}`), e(r.rto.verdict), e(String(r.findings.filter((f) => f.severity !== 'ok').length)),
    ])));
  }
  body.push('</section>');
  for (const r of reports) {
    const z = r.zone;
    body.push(`<section class="policy" id="policy-${e(r.policy)}"><h2>Policy ${e(r.policy)} ${level(r)} <small>(${r.verdict === 'compliant' ? 'within contract' : 'out of contract'})</small></h2>`);
    if (r.description) body.push(`<p>${e(r.description)}</p>`);
    body.push(`<p>Evaluated at ${e(formatTime(r.at, z))} over the last ${e(formatDuration(r.windowMs))} (from ${e(formatTime(r.windowStart, z))}).</p>`);

    body.push(`<h3>3-2-1 matrix</h3><p>Rule ${e(r.rule.rule)}: configured ${e(r.rule.configured)}, actual ${e(r.rule.data)}: ${e(countOf(r.rule.copies, 'copy', 'copies'))} counting production, ${e(countOf(r.rule.media.length, 'medium', 'media'))} (${e(r.rule.media.join(', '))}), ${r.rule.offsiteCopies} off-site, ${r.rule.immutableOrOfflineCopies} immutable or offline.</p>`);
    body.push(rows(['Copy', 'Media', 'Off-site', 'Immutable/offline', 'Counts now'], [
      ['production', 'production medium', 'no', 'no', 'yes'].map(e),
      ...r.targets.map((t) => {
        const s = r.rule.targets.find((x) => x.target === t.name);
        return [t.name, t.media, t.offsite ? 'yes' : 'no', t.immutable || t.offline ? 'yes' : 'no', s?.counts ? 'yes' : `no (${s?.reason ?? 'unknown'})`].map(e);
      }),
    ]));
    if (r.rule.shortfalls.length > 0) body.push(`<p class="critical">Short of the rule: ${e(r.rule.shortfalls.join('; '))}</p>`);

    body.push(`<h3>RPO ${e(dur(r.objectives.rpoMs))} per copy</h3>`);
    body.push(rows(['Copy', 'Exposure now', 'Status', 'Within RPO', 'Worst'], [
      ...r.rpo.targets.map((t) => [e(t.target), e(t.hasSnapshot ? dur(t.exposureMs) : 'no snapshot'), `<span class="${t.breachSince ? 'critical' : 'ok'}">${t.breachSince ? 'BREACH' : t.within ? 'ok' : 'not due'}</span>`, e(pct(t.window.percentWithin)), e(dur(t.window.worstExposureMs))]),
      [`<b>overall</b>`, e(dur(r.rpo.overall.exposureMs)), `<span class="${r.rpo.overall.breachSince ? 'critical' : 'ok'}">${r.rpo.overall.breachSince ? 'BREACH' : r.rpo.overall.within ? 'ok' : 'not due'}</span>`, e(pct(r.rpo.overall.window.percentWithin)), e(dur(r.rpo.overall.window.worstExposureMs))],
    ]));
    r.rpo.targets.forEach((t, i) => {
      body.push(`<figure><figcaption>Exposure of ${e(t.target)} over the window</figcaption>${exposureChartSvg({
        id: `${reports.indexOf(r)}-${i}`, title: `exposure of ${t.target} over the window`, series: t.series, rpoMs: r.objectives.rpoMs, from: r.windowStart, to: r.at, zone: z,
        breaches: r.rpo.breaches.filter((b) => b.scope === t.target), lastBackup: t.recoveryPoint, escape: e,
      })}</figure>`);
    });

    body.push('<h3>Breaches</h3>');
    body.push(r.rpo.breaches.length === 0 ? `<p>None in the last ${e(formatDuration(r.windowMs))}.</p>` : rows(['Of', 'Start', 'End', 'Length'], r.rpo.breaches.map((b) => [b.scope, formatTime(b.start, z), b.end ? formatTime(b.end, z) : 'ongoing', formatDuration(b.durationMs)].map(e))));

    body.push(`<h3>RTO ${e(dur(r.objectives.rtoMs))} evidence: ${e(r.rto.verdict)}${r.rto.stale ? ' (stale evidence)' : ''}</h3>`);
    body.push(rows(['Copy', 'Snapshot size', 'Measured throughput', 'Estimate', 'Margin', 'Evidence age', 'Verdict'], r.rto.targets.map((t) => [
      t.target, t.snapshotBytes === null ? '-' : formatBytes(t.snapshotBytes), t.lastTest?.throughputBytesPerSec == null ? '-' : formatRate(t.lastTest.throughputBytesPerSec),
      dur(t.estimateMs), r.objectives.rtoMs === null || t.estimateMs === null ? '-' : signedDuration(r.objectives.rtoMs - t.estimateMs), t.lastTest ? `${formatDuration(t.lastTest.ageMs)} (${t.evidence})` : 'none', t.verdict,
    ].map(e))));

    body.push(`<h3>Restore tests (every ${e(formatDuration(r.objectives.restoreEveryMs))})</h3>`);
    body.push(rows(['Copy', 'Latest', 'Result', 'Files', 'Last passed', 'Next due', 'Failures in window'], r.restoreTests.map((t) => [
      t.target, time(t.last?.at, z), t.last ? (t.last.ok ? 'passed' : `FAILED (${countOf(t.last.failures, 'file', 'files')})`) : 'none', t.last ? String(t.last.files) : '-',
      time(t.lastSuccessAt, z), t.overdue ? `OVERDUE by ${formatDuration(t.overdueByMs)}` : time(t.dueAt, z), t.failuresInWindow.map((f) => formatTime(f.at, z)).join(', ') || 'none',
    ].map(e))));

    body.push('<h3>Backups</h3>');
    body.push(rows(['Copy', 'Last success', 'Last failure', 'Failures in window', 'Partial', 'Mean run', 'Run-time trend/day'], r.backups.map((b) => [
      b.target, b.lastSuccess ? `${formatTime(b.lastSuccess.at, z)} (${formatDuration(b.lastSuccess.durationMs)})` : '-', b.lastFailure ? `${formatTime(b.lastFailure.at, z)}: ${b.lastFailure.error}` : '-',
      String(b.failuresInWindow.length), String(b.partialSnapshots.length), dur(b.trend.meanMs), trendCell(b.trend.slopeMsPerDay, b.trend.history, signedDuration),
    ].map(e))));

    body.push('<h3>Capacity</h3>');
    body.push(r.capacity.length === 0 ? '<p>No capacity figures.</p>' : rows(['Copy', 'Used', 'Free', 'Stored', 'Growth/day', 'Days left', 'Reduction'], r.capacity.map((c) => [
      c.target, pct(c.usedPercent), c.freeBytes === null ? '-' : formatBytes(c.freeBytes), c.storedBytes === null ? '-' : formatBytes(c.storedBytes),
      trendCell(c.growthBytesPerDay, c.history, formatBytes), trendCell(c.daysLeft, c.history, (d) => String(Math.floor(d))), c.reductionRatio === null ? '-' : `${c.reductionRatio.toFixed(2)}x`,
    ].map(e))));
    body.push(`<p><small>${e(FORECAST_MINIMUM_TEXT)}.</small></p>`);

    if (r.keys.length > 0 || r.keyProofEveryMs !== null) {
      body.push(`<h3>Recovery keys${r.keyProofEveryMs === null ? '' : `: prove every ${e(formatDuration(r.keyProofEveryMs))}`}</h3>`);
      body.push(r.keys.length === 0 ? '<p>No key proven yet (<code>triad key verify</code>).</p>' : rows(['Key', 'Last proven', 'Age', 'Targets', 'Overdue'], r.keys.map((k) => [k.key.slice(0, 16), time(k.lastProvedAt, z), dur(k.ageMs), k.targets.join(', ') || '-', k.overdue ? 'yes' : 'no'].map(e))));
    }

    body.push('<h3>Findings, worst first</h3>');
    const html = (t: string): string => withCodeSpans(t, e, (c) => `<code>${e(c)}</code>`);
    if (r.findings.length === 0) body.push('<p>None.</p>');
    else body.push(`<ul>${r.findings.map((f) => `<li class="${f.severity}"><b>${SEVERITY_LABEL[f.severity]}</b> ${html(f.message)}${f.action ? ` — ${html(f.action)}` : ''}</li>`).join('')}</ul>`);
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
    const p = { policy: r.policy };
    put('triad_report_timestamp_seconds', 'Time the report was evaluated at.', p, ts(r.at));
    put('triad_compliant', '1 when the policy has no compliance finding.', p, r.verdict === 'compliant' ? 1 : 0);
    put('triad_rule_compliant', '1 when the data meets the 3-2-1 rule now (also 1 when the rule is off).', { ...p, rule: r.rule.rule }, r.rule.data === 'violated' ? 0 : 1);
    put('triad_copies', 'Copies of the data that count now, production included.', p, r.rule.copies);
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
    r.policy,
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
  return { text: `TRIAD ${NAGIOS_LABEL[status]} - ${r.policy}: ${summary.replace(/\|/g, '/')}${perf ? ` | ${perf}` : ''}`, exitCode: status };
}

/** For a policy that could not be evaluated at all (catalogue unreadable, policy invalid). */
export function renderNagiosUnknown(policy: string, reason: string): { text: string; exitCode: 3 } {
  return { text: `TRIAD UNKNOWN - ${policy}: ${reason.replace(/\|/g, '/').replace(/\r?\n/g, ' ')}`, exitCode: 3 };
}
