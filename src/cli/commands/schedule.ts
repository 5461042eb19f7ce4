import { Option, type Command } from 'commander';
import * as nodePath from 'node:path';
import { systemClock } from '../../core/clock.js';
import { TriadError } from '../../core/errors.js';
import type { CliContext } from '../context.js';
import { examples } from '../context.js';
import { table } from '../output.js';
import { createLogger, type LogFormat } from '../log.js';
import { eventJson } from '../render/events.js';
import type { AppEvent } from '../../core/events.js';
import { appContext, collect } from './app-context.js';

/** Seconds/minutes/hours as `30s`, `5m`, `1h`, or plain seconds. */
function parseSeconds(text: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new TriadError('E_USAGE', `"${text}" is not a duration`, { hint: 'use e.g. 30s, 5m or 1h' });
  const n = Number(m[1]);
  return n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const)[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

/** The launcher this process was started from (bin/triad, or the npm symlink), absolute. */
function triadEntry(ctx: CliContext): string {
  const entry = process.argv[1];
  if (!entry) throw new TriadError('E_INTERNAL', 'cannot tell which triad launcher is running');
  return nodePath.resolve(ctx.cwd, entry);
}

export function registerSchedule(program: Command, ctx: CliContext): void {
  const schedule = program.command('schedule').description("run policies' schedules unattended: a scheduler, systemd timers or cron");
  examples(schedule, ['triad schedule run --policies /etc/triad', 'sudo triad schedule install -p /etc/triad/finance.yaml --systemd', 'triad schedule list -p /etc/triad/finance.yaml']);

  examples(
    schedule
      .command('run')
      .description('long-running scheduler: runs every job of the policies at its time, each as a child triad process (SIGHUP reloads, SIGTERM stops)')
      .option('-p, --policy <file>', 'policy file (repeatable)', collect)
      .option('--policies <dir>', 'every *.yaml / *.yml policy in this directory (re-read on SIGHUP)')
      .addOption(new Option('--log-format <format>', 'plain lines for journald and cron mail, or one JSON object per line').choices(['plain', 'json']).default('plain'))
      .option('--stop-timeout <duration>', 'on SIGTERM, time a running job gets to end cleanly before it is killed', '60s')
      .option('--no-catch-up', 'do not run a missed backup at start')
      .action(async (o: { policy?: string[]; policies?: string; logFormat: LogFormat; stopTimeout: string; catchUp: boolean }, cmd: Command) => {
        if (!o.policy?.length && !o.policies) throw new TriadError('E_USAGE', 'no policies to schedule', { hint: 'give -p FILE (repeatable) or --policies DIR' });
        const stopGraceMs = parseSeconds(o.stopTimeout);
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { runDaemon } = await import('../../app/schedule-daemon.js');
        const { eventLogEntry } = await import('../../app/schedule-child-runner.js');
        const write = (line: string) => out.stdout.write(line);
        const loggerMasking = (redact: string[]) => createLogger({ format: o.logFormat, clock: systemClock, write, redact, debug: out.verbose });
        let logger = loggerMasking([]);
        const options = { policyFiles: o.policy ?? [], ...(o.policies !== undefined ? { policiesDir: o.policies } : {}), catchUp: o.catchUp, stopGraceMs, execPath: process.execPath, entry: triadEntry(ctx) };
        // The daemon waits on real time: a pinned clock's sleeps end at once.
        // The daemon's own events (e.g. a passphrase file readable by others) go to its log, not stderr.
        const emit = (e: AppEvent) => {
          const entry = eventLogEntry(eventJson(e));
          if (entry) logger.log(entry);
        };
        await runDaemon({ ...app, clock: systemClock, emit }, options, {
          onLog: (e) => logger.log(e),
          onSecrets: (values) => {
            logger = loggerMasking(values);
          },
          signals: {
            onReload: (reload) => {
              process.on('SIGHUP', reload);
              return () => process.off('SIGHUP', reload);
            },
          },
        });
        // Stopped by SIGTERM/SIGINT: main maps the signal to 143/130.
        ctx.setExitCode(0);
      }),
    ['triad schedule run -p /etc/triad/finance.yaml -p /etc/triad/pg.yaml', 'triad schedule run --policies /etc/triad --log-format json', 'kill -HUP $(pidof triad)   # reload the policies'],
  );

  examples(
    schedule
      .command('install')
      .description('write systemd service+timer units for every scheduled job (or print crontab lines)')
      .requiredOption('-p, --policy <file>', 'policy file (repeatable)', collect)
      .option('--systemd', 'write systemd units')
      .option('--cron', 'print crontab lines instead')
      .option('--dir <dir>', 'where to write the units (default /etc/systemd/system, or ~/.config/systemd/user with --user)')
      .option('--user', 'systemd --user units')
      .option('--environment-file <file>', 'environment file the jobs read the passphrase and credentials from (its path goes into the units, never its content)')
      .option('-n, --dry-run', 'print the units, write nothing')
      .action(async (o: { policy: string[]; systemd?: boolean; cron?: boolean; dir?: string; user?: boolean; environmentFile?: string; dryRun?: boolean }, cmd: Command) => {
        if (Boolean(o.systemd) === Boolean(o.cron)) throw new TriadError('E_USAGE', 'choose one of --systemd or --cron');
        if (o.cron && (o.dir || o.user)) throw new TriadError('E_USAGE', '--dir and --user apply to --systemd only');
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { installSchedule } = await import('../../app/schedule-install.js');
        const r = await installSchedule(app, {
          policyFiles: o.policy,
          mode: o.cron ? 'cron' : 'systemd',
          triadBin: triadEntry(ctx),
          ...(o.dir !== undefined ? { dir: o.dir } : {}),
          ...(o.user ? { user: true } : {}),
          ...(o.environmentFile !== undefined ? { envFile: nodePath.resolve(ctx.cwd, o.environmentFile) } : {}),
          ...(o.dryRun ? { dryRun: true } : {}),
        });
        if (out.json) return out.emitJson(r);
        if (r.mode === 'cron') {
          out.result(r.crontab ?? '');
        } else if (o.dryRun) {
          for (const u of r.units) out.result(`# ${u.service}\n${u.serviceText}\n# ${u.timer}\n${u.timerText}`);
        } else {
          for (const u of r.units) out.result(`wrote ${u.servicePath} and ${u.timerPath}`);
        }
        for (const e of r.environment.filter((x) => x.variables.length > 0)) {
          out.info(`policy ${e.policy}: put ${e.variables.join(', ')} in ${e.file} (chmod 600, owned by the user the jobs run as)`);
        }
        for (const w of r.warnings) out.warn(w);
        if (!o.dryRun || o.cron) out.info(`next:\n${r.next.map((l) => `  ${l}`).join('\n')}`);
      }),
    [
      'sudo triad schedule install -p /etc/triad/finance.yaml --systemd',
      'triad schedule install -p ~/triad/laptop.yaml --systemd --user',
      'triad schedule install -p /etc/triad/finance.yaml --cron >> /tmp/triad.cron',
    ],
  );

  examples(
    schedule
      .command('list')
      .description('next run of every scheduled job and the result of its last run')
      .requiredOption('-p, --policy <file>', 'policy file (repeatable)', collect)
      .action(async (o: { policy: string[] }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { listSchedule } = await import('../../app/schedule-install.js');
        const r = await listSchedule(app, { policyFiles: o.policy });
        if (out.json) return out.emitJson(r);
        out.result(
          table(
            r.jobs.map((j) => {
              const status = j.last ? (j.last.status === 'ok' ? out.c.green(j.last.status) : j.last.status === 'running' ? j.last.status : out.c.red(j.last.status)) : 'never run';
              return [j.policy, j.job, j.cron, j.next ? out.time(j.next, j.timezone) : '-', status, j.last ? out.time(j.last.startedAt, j.timezone) : '-', j.error ?? j.last?.error ?? ''];
            }),
            { header: ['policy', 'job', 'schedule', 'next run', 'last result', 'last run', 'note'] },
          ) || 'no scheduled jobs',
        );
      }),
    ['triad schedule list -p /etc/triad/finance.yaml', 'triad schedule list -p /etc/triad/finance.yaml --json'],
  );
}
