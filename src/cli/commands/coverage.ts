import type { Command } from 'commander';
import { examples, type CliContext } from '../context.js';
import { table, type Output } from '../output.js';
import { formatBytes } from '../../core/format.js';
import { TriadError } from '../../core/errors.js';
import type { CoverageResult, CoverageScan } from '../../app/coverage.js';
import { appContext, collect, parseDurationOption } from './app-context.js';

interface CoverageOpts {
  policy?: string[];
  policies?: string;
  maxEntries?: string;
  maxTime?: string;
}

/** `triad coverage`: data under the policies' coverage roots that no policy backs up (exit 0 none, 4 found, 1 scan stopped by a limit). */
export function registerCoverage(program: Command, ctx: CliContext): void {
  examples(
    program
      .command('coverage')
      .description("unprotected data: directories and mount points under each policy's coverage.roots that no policy's sources back up, biggest first (exit 0 none, 4 found, 1 scan stopped by a limit)")
      .option('-p, --policy <file>', 'policy file (repeatable)', collect)
      .option('--policies <dir>', 'every *.yaml / *.yml policy file in DIR; the sources of all of them count')
      .option('--max-entries <n>', 'stop after reading N directory entries per policy (default 1000000)')
      .option('--max-time <duration>', 'stop after this long per policy, e.g. 10m (default 5m)')
      .action(async (o: CoverageOpts, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { runCoverage, DEFAULT_COVERAGE_LIMITS } = await import('../../app/coverage.js');
        const limits = {
          maxEntries: o.maxEntries === undefined ? DEFAULT_COVERAGE_LIMITS.maxEntries : parseCount('--max-entries', o.maxEntries),
          maxMs: o.maxTime === undefined ? DEFAULT_COVERAGE_LIMITS.maxMs : parseDurationOption('--max-time', o.maxTime),
        };
        try {
          const r = await runCoverage(app, { ...(o.policy === undefined ? {} : { policyFiles: o.policy }), ...(o.policies === undefined ? {} : { policiesDir: o.policies }), limits });
          if (out.json) out.emitJson(coverageJson(r));
          else await render(out, r);
          ctx.setExitCode(r.exitCode);
        } finally {
          app.stopProgress();
        }
      }),
    ['triad coverage -p /etc/triad/files.yaml', 'triad coverage --policies /etc/triad', "triad coverage --policies /etc/triad --json | jq '.policies[].uncovered[].path'"],
  );
}

function parseCount(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new TriadError('E_USAGE', `${flag} ${text}: expected a whole number of at least 1`);
  return n;
}

function coverageJson(r: CoverageResult): unknown {
  return {
    exitCode: r.exitCode,
    policies: r.scans.map((s) => ({
      policy: s.policy,
      file: s.file,
      roots: s.roots,
      uncovered: s.uncovered.map((e) => ({ ...e, newestChange: e.newestChange?.toISOString() ?? null })),
      stopped: s.stopped ?? null,
      unreadable: s.unreadable,
      entriesRead: s.entriesRead,
    })),
  };
}

async function render(out: Output, r: CoverageResult): Promise<void> {
  const { describeStop } = await import('../../app/coverage.js');
  for (const [i, s] of r.scans.entries()) {
    if (i > 0) out.line();
    out.result(heading(out, s));
    if (s.uncovered.length > 0) {
      const rows = s.uncovered.map((e) => [
        e.bytes === null ? '?' : formatBytes(e.bytes),
        e.files === null ? '?' : e.files.toLocaleString('en-US'),
        e.newestChange === null ? '-' : out.time(e.newestChange, s.timezone),
        e.kind === 'excluded' && e.excludedBy ? `excluded by ${e.excludedBy.policy}` : e.kind,
        out.forOut(e.path),
      ]);
      out.result(indent(table(rows, { header: ['SIZE', 'FILES', 'NEWEST CHANGE', 'KIND', 'PATH'], align: ['r', 'r', 'l', 'l', 'l'] })));
      if (s.uncovered.some((e) => e.bytes === null)) out.hint('? marks a mount point not entered; set coverage.cross_filesystems: true to measure it');
      out.hint(`add each path to a policy's sources, or to coverage.ignore of ${s.file} if it needs no backup`);
    }
    for (const u of s.unreadable) out.warn(`cannot read ${u.path}: ${u.reason}`);
    if (s.stopped) out.warn(`policy ${s.policy}: ${describeStop(s.stopped)}`);
  }
}

function heading(out: Output, s: CoverageScan): string {
  const where = s.roots.join(', ');
  const read = `${s.entriesRead.toLocaleString('en-US')} entries read`;
  if (s.uncovered.length === 0 && s.stopped) return out.c.yellow(`policy ${s.policy}: no unprotected data in the part of ${where} read (${read})`);
  if (s.uncovered.length === 0) return out.c.green(`policy ${s.policy}: everything under ${where} is backed up (${read})`);
  return out.c.yellow(`policy ${s.policy}: ${s.uncovered.length} unprotected under ${where} (${read})`);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
