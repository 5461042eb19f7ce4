import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { TriadError } from '../../core/errors.js';
import { countOf } from '../../core/format.js';
import type { FleetReportResult } from '../../app/fleet-report.js';
import { examples, type CliContext } from '../context.js';
import type { Output } from '../output.js';
import { appContext } from './app-context.js';
import { FORMATS, NAGIOS_RANK, evaluationOptions, renderReports, writeFileAtomic, type Format } from './report.js';
import { repoAccessOf, withRepoAccessOptions, type RepoAccessCliOptions } from './repo-access.js';

interface FleetOpts extends RepoAccessCliOptions {
  repo: string;
  host?: string;
  at?: string;
  window?: string;
}

const REPO_HELP = 's3://bucket/prefix, azure://container/prefix, gcs://bucket/prefix or a local path';

/** `triad fleet report|status`: every host × policy backing up into one repository, judged from the repository alone. */
export function registerFleet(program: Command, ctx: CliContext): void {
  const fleet = program.command('fleet').description('many hosts, one repository: compliance of every host × policy from the repository alone (no catalogue)');
  examples(fleet, [
    'triad fleet report --repo s3://acme-backups/fleet/ --passphrase-file /root/fleet.key',
    'triad fleet status --repo /mnt/nas/triad --passphrase-env TRIAD_PASSPHRASE --nagios',
  ]);
  examples(
    common(fleet.command('report'))
      .description('compliance report of every host × policy from the repository\'s journal and snapshots: RPO, RTO, restore tests, 3-2-1, backups, capacity (exit 4 on a finding)')
      .addOption(new Option('--format <format>', 'output format (default table; json with --json)').choices(FORMATS))
      .option('-o, --output <file>', 'write to FILE atomically (temporary file + rename) instead of stdout')
      .action(async (o: FleetOpts & { format?: Format; output?: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        const result = await evaluate(ctx, cmd, out, o);
        const format: Format = o.format ?? (out.json ? 'json' : 'table');
        const text = await renderFleet(format, result, o.output === undefined ? out : undefined);
        if (o.output !== undefined) {
          const file = resolve(ctx.cwd, o.output);
          await writeFileAtomic(file, text);
          out.info(`wrote the ${format} fleet report of ${countOf(result.entries.length, 'host × policy', 'hosts × policies')} to ${file}`);
        } else {
          out.stdout.write(text.endsWith('\n') ? text : text + '\n');
        }
        warnDamaged(out, result);
        ctx.setExitCode(result.exitCode);
      }),
    [
      'AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… triad fleet report --repo s3://acme-backups/fleet/ --passphrase-file /root/fleet.key',
      'triad fleet report --repo /mnt/nas/triad --passphrase-env TRIAD_PASSPHRASE --format prometheus -o /var/lib/node_exporter/textfile/triad-fleet.prom',
      'triad fleet report --repo s3://acme-backups/fleet/ --passphrase-env P --host web1 --window 7d --format markdown',
    ],
  );
  examples(
    common(fleet.command('status'))
      .description('one line per host × policy with its level (exit 0 OK or WARNING, 4 CRITICAL); --nagios: one line for the whole fleet, plugin codes 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN')
      .option('--nagios', 'one Nagios/Icinga plugin line for the fleet, with perfdata and plugin exit codes')
      .action(async (o: FleetOpts & { nagios?: boolean }, cmd: Command) => {
        const out = ctx.output(cmd);
        if (o.nagios) return nagiosStatus(ctx, cmd, out, o);
        const result = await evaluate(ctx, cmd, out, o);
        const { renderStatusLine } = await import('../render/report.js');
        if (out.json) {
          out.emitJson({ at: result.at.toISOString(), repository: repositoryJson(result), exitCode: result.exitCode, policies: result.entries.map((e) => ({ host: e.host, policy: e.policy, target: e.target, severity: e.report.severity, verdict: e.report.verdict, line: renderStatusLine(e.report) })) });
        } else {
          for (const e of result.entries) {
            const colour = e.report.severity === 'ok' ? out.c.green : e.report.severity === 'warning' ? out.c.yellow : out.c.red;
            out.result(colour(renderStatusLine(e.report)));
          }
          if (result.entries.length === 0) out.result(`no backup of any host in ${result.location}`);
        }
        warnDamaged(out, result);
        ctx.setExitCode(result.exitCode);
      }),
    ['triad fleet status --repo s3://acme-backups/fleet/ --passphrase-file /root/fleet.key', 'triad fleet status --repo /mnt/nas/triad --passphrase-env P --nagios   # check_command for Nagios / Icinga'],
  );
}

function common(c: Command): Command {
  return withRepoAccessOptions(c.addOption(new Option('--repo <url>', `the repository: ${REPO_HELP}`).makeOptionMandatory()))
    .option('--host <name>', 'only this host\'s policies (default: every host)')
    .option('--window <duration>', "evaluation window, e.g. 30d (default: each policy's objectives.window as its backups recorded it)")
    .option('--at <time>', 'evaluate as of this time (ISO 8601) instead of now');
}

async function evaluate(ctx: CliContext, cmd: Command, out: Output, o: FleetOpts): Promise<FleetReportResult> {
  const when = evaluationOptions(o, out);
  const repo = await repoAccessOf(o.repo, o, out);
  const app = appContext(ctx, cmd, out, 'reading the repository\'s journal…');
  try {
    const { buildFleetReport } = await import('../../app/fleet-report.js');
    return await buildFleetReport(app, { repo, ...(o.host === undefined ? {} : { host: o.host }), ...when });
  } finally {
    app.stopProgress();
  }
}

function repositoryJson(r: FleetReportResult): Record<string, unknown> {
  return { location: r.location, id: r.repositoryId, snapshots: r.snapshots, journalRecords: r.records, storedBytes: r.storedBytes, damagedRecords: r.damaged };
}

async function renderFleet(format: Format, r: FleetReportResult, colour: Output | undefined): Promise<string> {
  const reports = r.entries.map((e) => e.report);
  if (format === 'json') {
    const { renderReportJson } = await import('../render/report.js');
    const doc = renderReportJson(reports);
    const policies = doc.policies.map((p, i) => ({ target: r.entries[i]!.target, objectivesRecorded: r.entries[i]!.objectivesRecorded, ...(p as Record<string, unknown>) }));
    return JSON.stringify({ schema: 'triad.fleet-report/v1', reportSchema: doc.schema, at: r.at.toISOString(), repository: repositoryJson(r), exitCode: r.exitCode, policies }, null, 2) + '\n';
  }
  const text = await renderReports(format, reports, colour);
  if (format === 'prometheus') {
    return `${text}# HELP triad_fleet_stored_bytes Bytes of the repository's packs, all hosts (shared data counted once).\n# TYPE triad_fleet_stored_bytes gauge\ntriad_fleet_stored_bytes ${r.storedBytes}\n`;
  }
  if (format !== 'table') return text;
  const { fleetSummaryTable } = await import('../render/fleet.js');
  return `${fleetSummaryTable(r)}\n\n${text}`;
}

function warnDamaged(out: Output, r: FleetReportResult): void {
  for (const d of r.damaged) out.warn(`${d.id.includes('/') ? d.id : `journal record ${d.id.slice(0, 12)}`} is damaged and was left out of the history: ${d.error}`);
}

/** Nagios mode: one line for the whole fleet, the worst level; anything that goes wrong is UNKNOWN (3). */
async function nagiosStatus(ctx: CliContext, cmd: Command, out: Output, o: FleetOpts): Promise<void> {
  let line: { text: string; exitCode: 0 | 1 | 2 | 3 };
  try {
    const result = await evaluate(ctx, cmd, out, o);
    const { fleetNagios } = await import('../render/fleet.js');
    line = fleetNagios(result, NAGIOS_RANK);
  } catch (err) {
    if (err instanceof TriadError && err.code === 'E_INTERRUPTED') throw err;
    const { renderNagiosUnknown } = await import('../render/report.js');
    line = renderNagiosUnknown('fleet', err instanceof Error ? err.message : String(err));
  }
  if (out.json) out.emitJson({ exitCode: line.exitCode, text: line.text });
  else out.result(line.text);
  ctx.setExitCode(line.exitCode);
}
