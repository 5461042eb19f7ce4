import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { TriadError, errnoCode, fsError } from '../../core/errors.js';
import { parseDuration } from '../../policy/units.js';
import type { PolicyOutcome, ReportResult } from '../../app/report.js';
import type { PolicyReport } from '../../compliance/types.js';
import { examples, type CliContext } from '../context.js';
import type { Output } from '../output.js';
import { appContext, collect } from './app-context.js';

export const FORMATS = ['table', 'json', 'markdown', 'html', 'prometheus'] as const;
export type Format = (typeof FORMATS)[number];

interface CommonOpts {
  policy?: string[];
  policies?: string;
  at?: string;
  window?: string;
}

/** `triad report` (the compliance report in five formats) and `triad status` (one line per policy, Nagios mode). */
export function registerReport(program: Command, ctx: CliContext): void {
  examples(
    program
      .command('report')
      .description('compliance report: 3-2-1, RPO, RTO, restore tests, backups and capacity per policy; level OK, WARNING or CRITICAL (exit 0 OK or WARNING, 4 CRITICAL)')
      .option('-p, --policy <file>', 'policy file (repeatable)', collect)
      .option('--policies <dir>', 'every *.yaml / *.yml policy file in DIR')
      .option('--window <duration>', "evaluation window, e.g. 30d (default: each policy's objectives.window)")
      .option('--at <time>', 'evaluate as of this time (ISO 8601) instead of now')
      .addOption(new Option('--format <format>', 'output format (default table; json with --json)').choices(FORMATS))
      .option('-o, --output <file>', 'write to FILE atomically (temporary file + rename) instead of stdout')
      .action(async (o: CommonOpts & { format?: Format; output?: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        const result = await evaluate(ctx, cmd, out, o);
        const failed = result.outcomes.find((x): x is Extract<PolicyOutcome, { ok: false }> => !x.ok);
        if (failed) throw failed.error;
        const reports = result.outcomes.flatMap((x) => (x.ok ? [x.report] : []));
        const format: Format = o.format ?? (out.json ? 'json' : 'table');
        const text = await renderReports(format, reports, o.output === undefined ? out : undefined);
        if (o.output !== undefined) {
          const file = resolve(ctx.cwd, o.output);
          await writeFileAtomic(file, text);
          out.info(`wrote the ${format} report of ${reports.length} ${reports.length === 1 ? 'policy' : 'policies'} to ${file}`);
        } else {
          out.stdout.write(text.endsWith('\n') ? text : text + '\n');
        }
        ctx.setExitCode(result.exitCode);
      }),
    [
      'triad report -p /etc/triad/finance.yaml',
      'triad report --policies /etc/triad --format html --output /srv/www/triad/report.html',
      'triad report --policies /etc/triad --format prometheus --output /var/lib/node_exporter/textfile/triad.prom',
      'triad report -p policies/demo.yaml --window 7d --at 2026-01-31T23:59:59Z --format markdown',
    ],
  );

  examples(
    program
      .command('status')
      .description('one line per policy with its level OK, WARNING or CRITICAL (exit 0 OK or WARNING, 4 CRITICAL); --nagios: the same level as plugin codes 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN')
      .option('-p, --policy <file>', 'policy file (repeatable)', collect)
      .option('--policies <dir>', 'every *.yaml / *.yml policy file in DIR')
      .option('--window <duration>', "evaluation window, e.g. 30d (default: each policy's objectives.window)")
      .option('--at <time>', 'evaluate as of this time (ISO 8601) instead of now')
      .option('--nagios', 'Nagios/Icinga plugin output with perfdata and plugin exit codes')
      .action(async (o: CommonOpts & { nagios?: boolean }, cmd: Command) => {
        const out = ctx.output(cmd);
        if (o.nagios) {
          await nagiosStatus(ctx, cmd, out, o);
          return;
        }
        const result = await evaluate(ctx, cmd, out, o);
        const { renderStatusLine } = await import('../render/report.js');
        const rows = result.outcomes.map((x) => statusRow(x, renderStatusLine));
        const failed = result.outcomes.find((x): x is Extract<PolicyOutcome, { ok: false }> => !x.ok);
        const exitCode = failed ? failed.error.exitCode : result.exitCode;
        if (out.json) out.emitJson({ at: result.at.toISOString(), exitCode, policies: rows });
        else {
          for (const r of rows) {
            const colour = r.ok ? (r.severity === 'ok' ? out.c.green : r.severity === 'warning' ? out.c.yellow : out.c.red) : out.c.red;
            out.result(colour(r.line));
          }
        }
        ctx.setExitCode(exitCode);
      }),
    [
      'triad status -p /etc/triad/finance.yaml',
      'triad status --policies /etc/triad --json',
      'triad status -p /etc/triad/finance.yaml --nagios   # check_command for Nagios / Icinga',
    ],
  );
}

/** The reports in one of the five formats; `colour` (stdout is a terminal) styles the table. */
export async function renderReports(format: Format, reports: readonly PolicyReport[], colour: Output | undefined): Promise<string> {
  const render = await import('../render/report.js');
  switch (format) {
    case 'json':
      return JSON.stringify(render.renderReportJson(reports), null, 2) + '\n';
    case 'markdown':
      return render.renderReportMarkdown(reports);
    case 'html':
      return render.renderReportHtml(reports);
    case 'prometheus':
      return render.renderPrometheus(reports);
    default: {
      const c = colour?.c;
      const style = c
        ? (s: string, t: string): string => (s === 'ok' ? c.green(t) : s === 'warning' ? c.yellow(t) : s === 'critical' ? c.red(t) : s === 'heading' ? c.bold(t) : c.dim(t))
        : undefined;
      return render.renderReportTable(reports, style ? { style } : {});
    }
  }
}

async function evaluate(ctx: CliContext, cmd: Command, out: Output, o: CommonOpts): Promise<ReportResult> {
  const when = evaluationOptions(o, out);
  const app = appContext(ctx, cmd, out);
  try {
    const { buildReports } = await import('../../app/report.js');
    return await buildReports(app, {
      ...(o.policy === undefined ? {} : { policyFiles: o.policy }),
      ...(o.policies === undefined ? {} : { policiesDir: o.policies }),
      ...when,
    });
  } finally {
    app.stopProgress();
  }
}

/** --at, --window and --utc as the report options `at`, `windowMs` and `zone` (each only when given). */
export function evaluationOptions(o: { at?: string; window?: string }, out: Output): { at?: Date; windowMs?: number; zone?: string } {
  return {
    ...(o.at === undefined ? {} : { at: parseAt(o.at) }),
    ...(o.window === undefined ? {} : { windowMs: parseWindow(o.window) }),
    ...(out.zoneOverride === undefined ? {} : { zone: out.zoneOverride }),
  };
}

function parseAt(text: string): Date {
  const d = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(d.getTime())) {
    throw new TriadError('E_USAGE', `--at ${text} is not a date`, { hint: 'use ISO 8601, e.g. 2026-01-31T23:00:00Z' });
  }
  return d;
}

function parseWindow(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new TriadError('E_USAGE', `--window ${text}: ${err instanceof Error ? err.message : String(err)}`, { hint: 'e.g. --window 30d' });
  }
  if (!(ms > 0)) throw new TriadError('E_USAGE', `--window ${text} must be longer than zero`, { hint: 'e.g. --window 30d' });
  return ms;
}

interface StatusRow {
  file: string;
  policy: string | null;
  ok: boolean;
  verdict: 'compliant' | 'finding' | 'error';
  severity: string | null;
  exitCode: number;
  line: string;
  findings?: { severity: string; code: string; target?: string; message: string; action?: string }[];
  error?: { code: string; message: string; hint?: string };
}

function statusRow(x: PolicyOutcome, line: (r: Extract<PolicyOutcome, { ok: true }>['report']) => string): StatusRow {
  if (x.ok) {
    const r = x.report;
    return {
      file: x.file,
      policy: r.policy,
      ok: true,
      verdict: r.verdict,
      severity: r.severity,
      exitCode: r.exitCode,
      line: line(r),
      findings: r.findings.map((f) => ({ severity: f.severity, code: f.code, ...(f.target ? { target: f.target } : {}), message: f.message, ...(f.action ? { action: f.action } : {}) })),
    };
  }
  const name = x.policy ?? basename(x.file);
  return {
    file: x.file,
    policy: x.policy ?? null,
    ok: false,
    verdict: 'error',
    severity: null,
    exitCode: x.error.exitCode,
    line: `${name} ERROR ${x.error.message} [${x.error.code}]`,
    error: { code: x.error.code, message: x.error.message, ...(x.error.hint ? { hint: x.error.hint } : {}) },
  };
}

/** Worst first: CRITICAL, WARNING, UNKNOWN, OK (the usual rule for a check covering several services). */
export const NAGIOS_RANK: Record<number, number> = { 2: 3, 1: 2, 3: 1, 0: 0 };

/** Nagios mode never exits with a triad code: anything that goes wrong is UNKNOWN (3). */
async function nagiosStatus(ctx: CliContext, cmd: Command, out: Output, o: CommonOpts): Promise<void> {
  const { renderNagios, renderNagiosUnknown } = await import('../render/report.js');
  let lines: { policy: string; text: string; exitCode: 0 | 1 | 2 | 3 }[];
  try {
    const result = await evaluate(ctx, cmd, out, o);
    lines = result.outcomes.map((x) =>
      x.ok ? { policy: x.report.policy, ...renderNagios(x.report) } : { policy: x.policy ?? basename(x.file), ...renderNagiosUnknown(x.policy ?? basename(x.file), x.error.message) },
    );
  } catch (err) {
    if (err instanceof TriadError && err.code === 'E_INTERRUPTED') throw err;
    const name = o.policy?.length === 1 ? basename(o.policy[0]!) : 'triad';
    lines = [{ policy: name, ...renderNagiosUnknown(name, err instanceof Error ? err.message : String(err)) }];
  }
  const exitCode = lines.reduce<0 | 1 | 2 | 3>((w, l) => (NAGIOS_RANK[l.exitCode]! > NAGIOS_RANK[w]! ? l.exitCode : w), 0);
  if (out.json) out.emitJson({ exitCode, policies: lines });
  else for (const l of lines) out.result(l.text);
  ctx.setExitCode(exitCode);
}

/**
 * Writes FILE so that a reader (a Prometheus textfile collector, a web server) sees the old
 * or the new content, never a part: a temporary file in the same directory, flushed, then
 * renamed over FILE, then the directory flushed.
 */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const dir = dirname(file);
  // Not ending in .prom (the textfile collector skips it) and hidden; the pid keeps two
  // concurrent writers apart, and a leftover of a crashed run with the same pid is overwritten.
  const tmp = join(dir, `.${basename(file)}.${process.pid}.tmp`);
  try {
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch((e: unknown) => {
      if (errnoCode(e) !== 'ENOENT') throw e;
    });
    throw fsError(err, `the report ${file}`);
  }
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch (err) {
    // Some file systems refuse fsync on a directory (EINVAL/EISDIR); the rename itself is done.
    const code = errnoCode(err);
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EBADF' && code !== 'EPERM') throw fsError(err, `the directory ${dir}`);
  }
}
