import { countOf, formatBytes, formatDuration, formatTime } from '../../core/format.js';
import type { FleetReportResult } from '../../app/fleet-report.js';
import { subjectOf } from './report.js';

const LEVEL = { ok: 'OK', warning: 'WARNING', critical: 'CRITICAL' } as const;
const NAGIOS_LABEL = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

/** The fleet at a glance: one row per host × policy, before each one's full report. */
export function fleetSummaryTable(r: FleetReportResult): string {
  const rows: string[][] = [['HOST', 'POLICY', 'TARGET', 'LEVEL', 'LAST BACKUP', 'RPO EXPOSURE', 'LAST RESTORE TEST', 'FINDINGS']];
  for (const e of r.entries) {
    const rep = e.report;
    const last = rep.backups.map((b) => b.lastSuccess?.at).filter((d): d is Date => d !== undefined).sort((a, b) => b.getTime() - a.getTime())[0];
    const exposure = rep.rpo.overall.exposureMs;
    const rpo = rep.objectives.rpoMs;
    rows.push([
      e.host,
      e.policy,
      e.target,
      LEVEL[rep.severity],
      last ? formatTime(last, rep.zone) : '-',
      `${exposure === null ? '-' : formatDuration(exposure)} / ${rpo === null ? '-' : formatDuration(rpo)}${rep.rpo.overall.breachSince ? ' BREACH' : ''}`,
      rep.lastRestoreTest ? `${formatDuration(rep.lastRestoreTest.ageMs)} ago, ${rep.lastRestoreTest.ok ? 'passed' : 'FAILED'}` : 'none',
      String(rep.findings.filter((f) => f.severity !== 'ok').length),
    ]);
  }
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  const lines = rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length))).join('  ').trimEnd());
  const head = `Fleet ${r.location} (repository ${r.repositoryId.slice(0, 8)}): ${countOf(new Set(r.entries.map((e) => e.host)).size, 'host', 'hosts')}, ${countOf(r.entries.length, 'host × policy', 'hosts × policies')}, ${countOf(r.snapshots, 'snapshot', 'snapshots')}, ${formatBytes(r.storedBytes)} stored`;
  return [head, '', ...lines].join('\n');
}

/** One plugin line for the fleet: the worst level, what is wrong where, counts as perfdata. */
export function fleetNagios(r: FleetReportResult, rank: Record<number, number>): { text: string; exitCode: 0 | 1 | 2 | 3 } {
  const status = r.entries.reduce<0 | 1 | 2 | 3>((w, e) => (rank[e.report.nagios.status]! > rank[w]! ? e.report.nagios.status : w), 0);
  const count = (s: 'critical' | 'warning') => r.entries.filter((e) => e.report.severity === s).length;
  const worst = r.entries.filter((e) => e.report.nagios.status === status && status !== 0);
  const first = worst[0]?.report.findings.find((f) => f.severity !== 'ok');
  const what = worst.length === 0
    ? `${countOf(r.entries.length, 'host × policy', 'hosts × policies')} compliant`
    : `${worst.map((e) => subjectOf(e.report)).join(', ')}${first ? `: ${first.message}` : ''}`;
  const perf = `critical=${count('critical')};;;0;${r.entries.length} warning=${count('warning')};;;0;${r.entries.length} policies=${r.entries.length};;;0`;
  return { text: `TRIAD ${NAGIOS_LABEL[status]} - fleet: ${what.replace(/\|/g, '/').replace(/\r?\n/g, ' ')} | ${perf}`, exitCode: status };
}
