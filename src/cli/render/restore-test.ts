import type { FleetRestoreTestResult } from '../../app/fleet-restore-test.js';
import type { RestoreTestResult, TargetTestResult } from '../../app/restore-test.js';
import { repairPacksHint } from '../../core/describe.js';
import { fetchedLine, formatBytes, formatDuration, formatRate, table } from '../output.js';

/**
 * Renderers of a restore-test result: JUnit XML for CI and the human summary. Pure
 * functions of the same result object that --json prints.
 */

interface Case {
  classname: string;
  name: string;
  timeMs: number;
  failure?: { type: string; message: string; body: string };
  skipped?: string;
}

/** One <testsuite> per target, one <testcase> per sampled file plus one per snapshot structure check. */
export function renderJunit(r: RestoreTestResult): string {
  return junitDocument(`triad restore-test ${r.policy}`, r.durationMs, r.targets.map((t) => ({ name: t.target, r, t, classPrefix: `restore-test.${t.target}` })));
}

/**
 * `restore-test --repo`: one <testsuite> per host × policy (named host/policy), cases as above,
 * so a CI job that proves the whole fleet shows which host's copy failed.
 */
export function renderFleetJunit(f: FleetRestoreTestResult): string {
  return junitDocument(
    `triad restore-test ${f.location}`,
    f.durationMs,
    f.tests.flatMap((r) => r.targets.map((t) => ({ name: `${r.host ?? '?'}/${r.policy}`, r, t, classPrefix: `restore-test.${r.host ?? '?'}.${r.policy}.${t.target}` }))),
  );
}

interface Suite {
  readonly name: string;
  readonly r: RestoreTestResult;
  readonly t: TargetTestResult;
  /** Classname of the suite's cases, before the snapshot's short id. */
  readonly classPrefix: string;
}

function junitDocument(name: string, durationMs: number, suites: readonly Suite[]): string {
  const withCases = suites.map((s) => ({ s, cases: casesOf(s.t, s.classPrefix) }));
  const count = (cs: Case[], f: (c: Case) => boolean) => cs.filter(f).length;
  const all = withCases.flatMap((s) => s.cases);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${attr(name)}" tests="${all.length}" failures="${count(all, (c) => !!c.failure)}" errors="0" skipped="${count(all, (c) => !!c.skipped)}" time="${secs(durationMs)}">`,
  ];
  for (const { s, cases } of withCases) {
    const { r, t } = s;
    lines.push(
      `  <testsuite name="${attr(s.name)}" tests="${cases.length}" failures="${count(cases, (c) => !!c.failure)}" errors="0" skipped="${count(cases, (c) => !!c.skipped)}" time="${secs(t.overheadMs + t.transferMs + t.verifyMs)}" timestamp="${attr(r.startedAt.replace(/\.\d+Z$/, 'Z'))}">`,
      '    <properties>',
      ...[
        ...(r.host === undefined ? [] : [['host', r.host]]),
        ['policy', r.policy],
        ['target', t.target],
        ['seed', String(r.seed)],
        ['snapshots', r.sample.snapshotList.map((x) => x.id).join(',')],
        ['location', t.location ?? ''],
        ['bytes', String(t.bytes)],
        ['overhead_ms', String(Math.round(t.overheadMs))],
        ['transfer_ms', String(Math.round(t.transferMs))],
        ['throughput_bytes_per_sec', t.throughputBytesPerSec === null ? '' : String(Math.round(t.throughputBytesPerSec))],
        ['estimated_full_restore_ms', t.estimatedFullRestoreMs === null ? '' : String(Math.round(t.estimatedFullRestoreMs))],
      ].map(([k, v]) => `      <property name="${attr(k!)}" value="${attr(v!)}"/>`),
      '    </properties>',
    );
    for (const c of cases) {
      const open = `    <testcase classname="${attr(c.classname)}" name="${attr(c.name)}" time="${secs(c.timeMs)}"`;
      if (c.failure) {
        lines.push(`${open}>`, `      <failure type="${attr(c.failure.type)}" message="${attr(c.failure.message)}">${text(c.failure.body)}</failure>`, '    </testcase>');
      } else if (c.skipped) {
        lines.push(`${open}>`, `      <skipped message="${attr(c.skipped)}"/>`, '    </testcase>');
      } else lines.push(`${open}/>`);
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return lines.join('\n') + '\n';
}

function casesOf(t: TargetTestResult, prefix: string): Case[] {
  const cls = (snap: string) => `${prefix}.${snap.slice(0, 8)}`;
  const cases: Case[] = [];
  if (!t.reachable && t.results.length === 0) {
    const msg = `target unreachable: ${t.error ?? 'unknown error'}`;
    cases.push({ classname: prefix, name: 'open target', timeMs: t.overheadMs, failure: { type: 'target-unreachable', message: msg, body: `target '${t.target}'\n${msg}` } });
  }
  for (const d of t.damagedObjects) {
    cases.push({ classname: prefix, name: `${d.kind} object ${d.object}`, timeMs: 0, failure: { type: `damaged-${d.kind}`, message: d.reason, body: `target '${t.target}'\n${d.reason}\n${d.hint}` } });
  }
  for (const s of t.structure) {
    const c: Case = { classname: cls(s.snapshot), name: `structure of snapshot ${s.snapshot.slice(0, 8)}`, timeMs: 0 };
    if (!s.ok) {
      const msg = s.problems.length ? s.problems.map((p) => p.message).slice(0, 5).join('; ') + (s.problems.length + s.omitted > 5 ? ` … (${s.problems.length + s.omitted} problems)` : '') : (s.note ?? 'structure check failed');
      const body = [`target '${t.target}', snapshot ${s.snapshot}`, ...(s.note ? [s.note] : []), ...s.problems.map((p) => `${p.kind}: ${p.path || '/'}: ${p.message}`)].join('\n');
      c.failure = { type: s.problems[0]?.kind ?? 'missing-snapshot', message: msg, body };
    } else if (!s.present) c.skipped = s.note ?? 'not on this target';
    cases.push(c);
  }
  for (const f of t.results) {
    const c: Case = { classname: cls(f.snapshot), name: f.path, timeMs: f.transferMs };
    if (f.status === 'failed') {
      const what = (f.kind ?? 'error').replace(/-/g, ' ');
      c.failure = {
        type: f.kind ?? 'error',
        message: `${what}: ${f.reason ?? ''}`,
        body: [`file ${f.path}`, `snapshot ${f.snapshot}`, `target '${t.target}'`, `${what}: ${f.reason ?? ''}`, ...(f.pack ? [`pack ${f.pack}`] : []), ...(f.blob ? [`blob ${f.blob}`] : [])].join('\n'),
      };
    } else if (f.status === 'skipped') c.skipped = f.reason ?? 'skipped';
    cases.push(c);
  }
  return cases;
}

const INVALID_XML = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

function text(s: string): string {
  return s.replace(INVALID_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function attr(s: string): string {
  return text(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}

function secs(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(3);
}

/** Human summary lines; `c` colours PASS/FAIL on a terminal, `time` shows a time in the display zone. */
export function renderSummary(r: RestoreTestResult, c: { red(s: string): string; green(s: string): string; yellow(s: string): string }, time: (iso: string) => string, opts: { verbose?: boolean } = {}): string[] {
  const out: string[] = [];
  out.push(`restore test of policy ${r.policy}${r.host === undefined ? '' : ` on host ${r.host}`} — seed ${r.seed} (repeat this sample with --seed ${r.seed})`);
  const spec = r.sample.spec.kind === 'percent' ? `${r.sample.spec.value}%` : r.sample.spec.kind === 'files' ? `${r.sample.spec.value} files` : formatBytes(r.sample.spec.value);
  out.push(`sample: ${r.sample.files} file(s), ${formatBytes(r.sample.bytes)} from ${r.sample.snapshotList.length} snapshot(s) (${r.sample.snapshots}; size ${spec}, at most ${formatBytes(r.sample.maxBytes)})`);
  for (const s of r.sample.snapshotList) {
    out.push(`  snapshot ${s.id.slice(0, 8)} of ${time(s.time)}: ${s.files.length} of ${s.candidates} files, ${formatBytes(s.bytes)} (listed from the ${s.listing})${s.note ? ` — ${s.note}` : ''}`);
  }
  if (r.host !== undefined) {
    // Tested from the repository alone: the history of earlier tests is in the hosts' catalogues.
  } else if (r.previous === null) out.push('previous restore test: none on record');
  else if (r.overdue) out.push(c.yellow(`OVERDUE: the previous restore test (${time(r.previous.at)}) is ${formatDuration(r.previous.ageMs)} old, older than restore_test.every (${formatDuration(r.everyMs)})`));
  else out.push(`previous restore test: ${time(r.previous.at)} (${formatDuration(r.previous.ageMs)} ago)`);
  out.push('');
  out.push(
    table(
      r.targets.map((t) => [
        t.target,
        !t.reachable ? c.red('UNREACHABLE') : t.ok ? c.green('PASS') : c.red('FAIL'),
        String(t.files),
        String(t.failed),
        formatBytes(t.bytes),
        t.throughputBytesPerSec === null ? '-' : formatRate(t.throughputBytesPerSec),
        formatDuration(t.overheadMs),
        formatDuration(t.transferMs),
        formatDuration(t.durationMs),
        t.estimatedFullRestoreMs === null ? '-' : formatDuration(t.estimatedFullRestoreMs),
      ]),
      { header: ['target', 'result', 'files', 'failed', 'bytes', 'throughput', 'overhead', 'transfer', 'took', 'full restore (est.)'] },
    ),
  );
  if (opts.verbose) for (const t of r.targets) if (t.reachable) out.push(`${t.target}: ${fetchedLine(t.bytesFetched, t.requests)}`);
  const problems: string[] = [];
  for (const t of r.targets) {
    if (t.error !== undefined) problems.push(`${t.target}: ${t.reachable ? 'damaged, cannot be opened' : 'target unreachable'}: ${t.error}`);
    for (const d of t.damagedObjects) problems.push(`${t.target}: damaged ${d.kind}: ${d.reason}${d.kind === 'index' ? " (the files were read through the packs' headers instead)" : ''}; hint: ${d.hint}`);
    for (const s of t.structure) {
      if (s.ok) continue;
      if (s.note) problems.push(`${t.target}: snapshot ${s.snapshot.slice(0, 8)}: ${s.note}`);
      for (const p of s.problems.slice(0, 20)) problems.push(`${t.target}: structure of snapshot ${s.snapshot.slice(0, 8)}: ${p.message}`);
      if (s.problems.length + s.omitted > 20) problems.push(`${t.target}: … and ${s.problems.length + s.omitted - 20} more structure problem(s)`);
    }
    const failed = t.reachable ? t.results.filter((f) => f.status === 'failed' && f.kind !== 'damaged-repository') : [];
    for (const f of failed.slice(0, 50)) problems.push(`${t.target}: snapshot ${f.snapshot.slice(0, 8)}: ${f.path}: ${f.kind}: ${f.reason ?? ''}`);
    if (failed.length > 50) problems.push(`${t.target}: … and ${failed.length - 50} more failed file(s)`);
    if (failed.some((f) => f.pack !== undefined)) problems.push(`${t.target}: hint: ${repairPacksHint(t.target)}`);
  }
  if (problems.length) {
    out.push('', 'failures:');
    for (const p of problems) out.push(`  ${p}`);
  }
  for (const t of r.targets) {
    if (t.reReads.length) out.push(`${t.target}: ${t.reReads.length} pack(s) read a second time after a failed verification (only a second failure counts as damage)`);
  }
  out.push('');
  const bad = r.targets.filter((t) => !t.ok).map((t) => t.target);
  out.push(bad.length === 0 ? c.green(`restore test PASSED on ${r.targets.length} target(s)`) : c.red(`restore test FAILED on ${bad.join(', ')}`));
  if (r.journal.failed.length) out.push(c.yellow(`the journal record could not be written to: ${r.journal.failed.join(', ')}`));
  return out;
}
