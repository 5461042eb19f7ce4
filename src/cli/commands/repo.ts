import { Option, type Command } from 'commander';
import type { CliContext } from '../context.js';
import { examples } from '../context.js';
import { fetchedLine, formatBytes, formatDuration, table, type Output } from '../output.js';
import type { SnapshotListing } from '../../app/snapshots.js';
import type { BackupPlan } from '../../app/backup.js';
import type { Exclusion } from '../../repo/backup/index.js';
import type { CheckReadData, RollingSelection } from '../../app/check.js';
import { countOf } from '../../core/format.js';
import { allHostsOption, appContext, collect, hostOption, parseDurationOption, parseHostName, readConcurrencyOption } from './app-context.js';
import { TriadError } from '../../core/errors.js';

const policyOpt = () => new Option('-p, --policy <file>', 'policy file (YAML)').makeOptionMandatory();

export function registerRepo(program: Command, ctx: CliContext): void {
  examples(
    program
      .command('init')
      .description('create the repository on every target of the policy (idempotent)')
      .addOption(policyOpt())
      .option('--target <name>', 'only this target (repeatable)', collect)
      .action(async (o: { policy: string; target?: string[] }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { initRepositories } = await import('../../app/init.js');
        const r = await initRepositories(app, { policyFile: o.policy, targets: o.target });
        const failed = r.targets.filter((t) => t.status === 'failed');
        if (out.json) out.emitJson(r);
        else {
          // Nothing for a script to wait for: --quiet keeps a successful init silent.
          out.line(`repository ${r.repositoryId ?? '?'} for policy ${r.policy}`);
          out.line(table(r.targets.map((t) => [t.target, t.status, t.location, t.error ?? '']), { header: ['target', 'status', 'location', 'error'] }));
        }
        if (failed.length) ctx.setExitCode(1);
      }),
    ['triad init -p policies/demo.yaml', 'TRIAD_PASSPHRASE=… triad init -p /etc/triad/finance.yaml --target nas'],
  );

  examples(
    program
      .command('backup')
      .description('take one snapshot of all sources and write it to every target')
      .addOption(policyOpt())
      .option('--target <name>', 'only this target (repeatable)', collect)
      .option('-n, --dry-run', 'read and hash everything, write nothing; list the files it would read (with -v also what the source options leave out, and why)')
      .option('--time <iso>', 'record the snapshot under this time (ISO 8601) instead of now')
      .option('--tag <tag>', 'add a tag to the snapshot (repeatable)', collect)
      .option('--host <name>', "record the snapshot under this host name (default: the policy's host:, else this machine's name)", parseHostName)
      .option('--allow-violation', 'back up even if the policy violates its 3-2-1 rule')
      .option('--wait <duration>', 'wait up to this long for a lock held by another process (e.g. 10m) instead of exiting 11')
      .action(async (o: { policy: string; target?: string[]; dryRun?: boolean; time?: string; tag?: string[]; host?: string; allowViolation?: boolean; wait?: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out, 'opening targets and loading indexes…');
        let time: Date | undefined;
        if (o.time) {
          time = new Date(o.time);
          if (Number.isNaN(time.getTime())) throw new TriadError('E_USAGE', `--time ${o.time} is not a date`, { hint: 'use ISO 8601, e.g. 2026-01-31T23:00:00Z' });
        }
        const { runBackup } = await import('../../app/backup.js');
        const waitMs = o.wait !== undefined ? parseDurationOption('--wait', o.wait) : undefined;
        const r = await runBackup(app, { policyFile: o.policy, targets: o.target, dryRun: o.dryRun, time, tags: o.tag, host: o.host, allowViolation: o.allowViolation, estimate: out.showProgress, waitMs, packSize: ctx.injected.packSize }).finally(() => app.stopProgress());
        if (out.json) out.emitJson(r);
        else {
          const s = r.summary;
          out.result(r.dryRun ? `dry run of policy ${r.policy}: nothing written` : r.snapshot ? `snapshot ${r.snapshot.slice(0, 8)} saved (${r.snapshot})${r.partial ? ' — PARTIAL: some files could not be read' : ''}` : 'no snapshot saved');
          out.line(`files: ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnchanged} unchanged; ${s.dirs} directories`);
          out.line(`read ${formatBytes(s.bytesRead)} of ${formatBytes(s.bytes)}; added ${formatBytes(s.dataAdded)} of new data${r.dryRun ? '' : `, ${formatBytes(s.dataAddedPacked)} stored after compression`} in ${formatDuration(r.durationMs)}`);
          if (r.plan) printPlan(out, r.plan);
          if (r.warnings.length) out.line(`${r.warnings.length} warning(s): see above`);
          out.line(table(r.targets.map((t) => [t.target, t.status === 'failed' ? out.c.red(t.status) : out.c.green(t.status), formatBytes(t.bytesWritten), String(t.packs), t.error ?? '']), { header: ['target', 'result', 'written', 'packs', 'error'] }));
        }
        ctx.setExitCode(r.exitCode);
      }),
    ['triad backup -p policies/demo.yaml', 'triad backup -p /etc/triad/finance.yaml --target nas --json', 'triad backup -p policies/demo.yaml --dry-run'],
  );

  examples(
    program
      .command('snapshots')
      .description('list snapshots and on which targets each is complete')
      .addOption(policyOpt())
      .option('--target <name>', 'only this target')
      .option('--tag <tag>', 'only snapshots carrying this tag (repeatable: all of them)', collect)
      .addOption(hostOption('only snapshots'))
      .addOption(allHostsOption('snapshots'))
      .option('--path <path>', 'only snapshots whose sources include this path')
      .option('-l, --long', 'full snapshot ids and columns as wide as their content')
      .action(async (o: { policy: string; target?: string; tag?: string[]; host?: string; allHosts?: boolean; path?: string; long?: boolean }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { listSnapshots } = await import('../../app/snapshots.js');
        const r = await listSnapshots(app, { policyFile: o.policy, target: o.target, filter: { tags: o.tag, path: o.path }, hosts: { host: o.host, allHosts: o.allHosts } });
        if (out.json) {
          out.emitJson(r);
          return;
        }
        for (const t of r.targets.filter((x) => !x.ok)) out.warn(`target '${t.name}' could not be read: ${t.error}`);
        out.result(snapshotTable(out, r, Boolean(o.long)) || 'no snapshots');
      }),
    ['triad snapshots -p policies/demo.yaml', 'triad snapshots -p /etc/triad/finance.yaml --tag monthly --path /srv/finance', 'triad snapshots -p /etc/triad/finance.yaml --all-hosts', 'triad snapshots -p policies/demo.yaml --target offsite --json'],
  );

  examples(
    program
      .command('ls')
      .description("list a snapshot's tree ('latest' or an id prefix of 8+ hex characters)")
      .addOption(policyOpt())
      .argument('<snapshot>', "'latest', a full id or a unique prefix")
      .argument('[path]', 'a path inside the snapshot')
      .option('--target <name>', 'read from this target')
      .option('--no-recursive', 'only the entries directly under PATH')
      .option('-l, --long', 'show mode, size and time')
      .addOption(hostOption("'latest' is the latest"))
      .addOption(allHostsOption("'latest' is the latest"))
      .addOption(readConcurrencyOption())
      .action(async (snapshot: string, path: string | undefined, o: { policy: string; target?: string; recursive: boolean; long?: boolean; host?: string; allHosts?: boolean }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { listTree } = await import('../../app/browse.js');
        const r = await listTree(app, { policyFile: o.policy, snapshot, path, target: o.target, recursive: o.recursive, hosts: { host: o.host, allHosts: o.allHosts } });
        if (out.json) return out.emitJson(r);
        if (out.verbose) out.info(fetchedLine(r.bytesFetched, r.requests));
        if (o.long) {
          // As ls(1): the link count after the mode, and a device's numbers where a size would be.
          const size = (e: (typeof r.entries)[number]) => (e.device ? `${e.device.major}, ${e.device.minor}` : String(e.size));
          out.result(table(r.entries.map((e) => [modeString(e.type, e.mode), String(e.links), String(e.uid), String(e.gid), size(e), out.time(e.mtime, r.timezone), e.path + (e.target ? ` -> ${e.target}` : '')]), { align: ['l', 'r', 'r', 'r', 'r', 'l', 'l'] }));
        } else {
          for (const e of r.entries) out.data(e.path + (e.type === 'dir' ? '/' : ''));
        }
      }),
    ['triad ls -p policies/demo.yaml latest', 'triad ls -p policies/demo.yaml 1a2b3c4d demo-data/docs -l'],
  );

  examples(
    program
      .command('diff')
      .description('paths added, removed and modified between two snapshots')
      .addOption(policyOpt())
      .argument('<a>', 'older snapshot')
      .argument('<b>', 'newer snapshot')
      .option('--target <name>', 'read from this target')
      .addOption(hostOption("'latest' is the latest"))
      .addOption(allHostsOption("'latest' is the latest"))
      .action(async (a: string, b: string, o: { policy: string; target?: string; host?: string; allHosts?: boolean }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { diffSnapshots } = await import('../../app/browse.js');
        const r = await diffSnapshots(app, { policyFile: o.policy, a, b, target: o.target, hosts: { host: o.host, allHosts: o.allHosts } });
        if (out.json) return out.emitJson(r);
        for (const p of r.added) out.data(out.c.green(`+ ${p}`));
        for (const p of r.removed) out.data(out.c.red(`- ${p}`));
        for (const p of r.modified) out.data(out.c.yellow(`M ${p}`));
        out.line(`${r.added.length} added, ${r.removed.length} removed, ${r.modified.length} modified`);
      }),
    ['triad diff -p policies/demo.yaml 1a2b3c4d latest'],
  );

  examples(
    program
      .command('restore')
      .description('restore a snapshot into a directory, verifying every byte')
      .addOption(policyOpt())
      .argument('<snapshot>', "'latest', a full id or a unique prefix")
      .requiredOption('--to <dir>', 'directory to restore into (must be empty unless --overwrite)')
      .option('--target <name>', 'restore from this target (default: the first on-site one that opens)')
      .option('--include <glob>', 'restore only matching paths (repeatable)', collect)
      .option('--exclude <glob>', 'skip matching paths (repeatable)', collect)
      .option('--overwrite', 'restore into a non-empty DIR: replace what differs (a file with the same content is left in place)')
      .option('--delete', 'with --overwrite: remove what the snapshot does not have under the restored paths')
      .option('--no-sparse', 'write the zeros of files (default: runs of zeros are left as holes, so sparse files take only the disk their data needs)')
      .addOption(hostOption("'latest' is the latest"))
      .addOption(allHostsOption("'latest' is the latest"))
      .addOption(readConcurrencyOption())
      .action(async (snapshot: string, o: { policy: string; to: string; target?: string; include?: string[]; exclude?: string[]; overwrite?: boolean; delete?: boolean; sparse: boolean; host?: string; allHosts?: boolean }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { runRestore } = await import('../../app/restore.js');
        const r = await runRestore(app, { policyFile: o.policy, snapshot, to: o.to, target: o.target, include: o.include, exclude: o.exclude, overwrite: o.overwrite, delete: o.delete, sparse: o.sparse, hosts: { host: o.host, allHosts: o.allHosts } }).finally(() => app.stopProgress());
        if (out.json) out.emitJson(r);
        else {
          out.result(`restored snapshot ${r.snapshot.slice(0, 8)} from target '${r.target}' to ${r.to}: ${r.files} files, ${r.dirs} directories, ${r.symlinks} symlinks, ${formatBytes(r.bytes)} in ${formatDuration(r.durationMs)}`);
          if (r.specials) out.result(`${r.specials} FIFO(s) and device node(s) created`);
          if (r.unchanged) out.result(`${r.unchanged} file(s) already as in the snapshot: left in place`);
          if (r.deleted) out.result(`${r.deleted} entr${r.deleted === 1 ? 'y' : 'ies'} the snapshot does not have: removed`);
          if (out.verbose) out.result(fetchedLine(r.bytesFetched, r.requests));
          for (const f of r.failures) out.error(`${f.path}: ${f.reason}`);
          if (r.failures.length) out.line(`${r.failures.length} file(s) could not be restored intact; try another target with --target`);
        }
        ctx.setExitCode(r.exitCode);
      }),
    ['triad restore -p policies/demo.yaml latest --to /tmp/restore', "triad restore -p /etc/triad/finance.yaml 1a2b3c4d --to /srv/restore --target cloud --include 'finance/2026/**'"],
  );

  examples(
    program
      .command('dump')
      .description('write a snapshot (or a subtree) to stdout as a POSIX tar stream')
      .addOption(policyOpt())
      .argument('<snapshot>', "'latest', a full id or a unique prefix")
      .argument('[path]', 'a path inside the snapshot')
      .option('--target <name>', 'read from this target')
      .addOption(hostOption("'latest' is the latest"))
      .addOption(allHostsOption("'latest' is the latest"))
      .addOption(readConcurrencyOption())
      .action(async (snapshot: string, path: string | undefined, o: { policy: string; target?: string; host?: string; allHosts?: boolean }, cmd: Command) => {
        const out = ctx.output(cmd);
        if (out.stdout.isTTY) throw new TriadError('E_USAGE', 'refusing to write a tar stream to a terminal', { hint: 'redirect it: triad dump … > backup.tar, or pipe it into tar -x' });
        const app = appContext(ctx, cmd, out);
        const { runDump } = await import('../../app/restore.js');
        const r = await runDump(app, { policyFile: o.policy, snapshot, path, target: o.target, out: out.stdout, hosts: { host: o.host, allHosts: o.allHosts } });
        // stdout is the archive: what was fetched goes to stderr.
        if (out.verbose) out.info(fetchedLine(r.bytesFetched, r.requests));
      }),
    ['triad dump -p policies/demo.yaml latest > demo.tar', 'triad dump -p policies/demo.yaml latest demo-data/docs | tar -tv'],
  );

  examples(
    program
      .command('check')
      .description('verify repository structure, and with --read-data every byte (exit 0 no damage, 4 damage found, 1 a target could not be checked)')
      .addOption(policyOpt())
      .option('--target <name>', 'only this target')
      .option('--read-data', 'download, decrypt and verify all packs')
      .option('--read-data-subset <pct|auto>', "verify a random sample of packs, e.g. 10%; 'auto': the least recently verified packs, enough that a daily run reads every stored byte within the policy's verify.every (default 30d)")
      .option('--seed <n>', 'seed for the sample (printed when chosen at random)')
      .action(async (o: { policy: string; target?: string; readData?: boolean; readDataSubset?: string; seed?: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { seededRandom, freshSeed } = await import('../../core/random.js');
        let readData: CheckReadData = o.readData ? 'all' : 'none';
        if (o.readDataSubset?.trim().toLowerCase() === 'auto') readData = 'auto';
        else if (o.readDataSubset) {
          const pct = Number(o.readDataSubset.replace(/%$/, ''));
          if (!(pct > 0 && pct <= 100)) throw new TriadError('E_USAGE', `--read-data-subset ${o.readDataSubset} is not a percentage in (0, 100] nor 'auto'`);
          readData = pct;
        }
        const seed = o.seed !== undefined ? Number(o.seed) : freshSeed();
        const { runCheck } = await import('../../app/check.js');
        const r = await runCheck(app, { policyFile: o.policy, target: o.target, readData, random: seededRandom(seed) }).finally(() => app.stopProgress());
        if (out.json) out.emitJson({ ...r, seed });
        else {
          for (const t of r.targets) {
            if ('unreachable' in t) {
              out.result(`${out.mark(false)} ${t.target}: ${t.damaged ? 'damaged, cannot be opened' : 'cannot be checked'}: ${t.error}`);
              if (t.hint) out.result(out.c.dim(`  hint: ${t.hint}`));
              continue;
            }
            const verdict = t.errors.length ? `${out.mark(false)} ${out.c.red(`${t.errors.length} error(s)`)}` : `${out.mark(true)} no errors`;
            out.result(`${t.target}: ${verdict} — ${t.snapshots} snapshots, ${t.packs} packs, ${t.blobs} blobs${t.packsRead ? `, ${t.packsRead} packs read (${formatBytes(t.bytesRead)})` : ''}`);
            const hints = new Set<string>();
            for (const e of t.errors) {
              if (e.kind !== 'damaged-pack') out.result(`  ${e.message}`);
              if (e.hint) hints.add(e.hint);
            }
            for (const d of t.damagedPacks) {
              out.result(`  damaged pack ${d.pack}: ${d.reason}`);
              for (const a of d.affected.slice(0, 50)) out.result(`    affects snapshot ${a.snapshot.slice(0, 8)}: ${a.path}`);
              if (d.affected.length > 50) out.result(`    … and ${d.affected.length - 50} more files`);
            }
            for (const h of hints) out.result(out.c.dim(`  hint: ${h}`));
            if (t.rolling) out.line(`  ${rollingLine(t.rolling)}`);
            if (t.reReads.length) out.line(`  ${t.reReads.length} pack(s) read a second time after a failed verification (only a second failure counts as damage)`);
            if (t.unindexedPacks.length) {
              const verified = readData === 'all' ? 'whole packs ' : '';
              out.line(`  ${t.unindexedPacks.length} pack(s) not in any index (${verified}left by an interrupted run; harmless, 'triad prune' removes them)`);
            }
          }
          if (readData !== 'none' && typeof readData === 'number') out.line(`sample seed: ${seed}`);
        }
        ctx.setExitCode(r.exitCode);
      }),
    ['triad check -p policies/demo.yaml', 'triad check -p policies/demo.yaml --read-data', 'triad check -p /etc/triad/finance.yaml --read-data-subset auto', 'triad check -p /etc/triad/finance.yaml --target cloud --read-data-subset 10% --seed 42'],
  );
}

/** The width the default snapshot listing keeps to (a terminal, a mail, a ticket). */
const SNAPSHOT_TABLE_WIDTH = 100;

/** One line per snapshot: short id, time in the policy's zone, host, size, files, tags, targets and sources. */
/** A dry run's list: each file it would read, and with -v each entry left out and the rule that did it. */
function printPlan(out: Output, plan: BackupPlan): void {
  for (const f of plan.read) out.data(`${f.change === 'new' ? 'new    ' : 'changed'} ${f.path}`);
  if (out.verbose) for (const e of plan.excluded) out.data(`excluded ${e.path} (${exclusionText(e)})`);
}

function exclusionText(e: Exclusion): string {
  switch (e.rule) {
    case 'exclude':
      return `exclude '${e.detail}'`;
    case 'exclude_caches':
    case 'exclude_if_present':
      return `${e.rule}: ${e.detail} in its directory`;
    case 'exclude_larger_than':
      return `exclude_larger_than ${formatBytes(Number(e.detail))}`;
    case 'files_from':
      return `not listed in files_from ${e.detail}`;
  }
}

function snapshotTable(out: Output, r: SnapshotListing, long: boolean): string {
  if (r.snapshots.length === 0) return '';
  const rows = r.snapshots.map((s) => [
    long ? s.id : s.id.slice(0, 8),
    out.time(s.time, r.timezone),
    s.host,
    formatBytes(s.summary.bytes),
    String(s.summary.files),
    s.tags.join(',') || '-',
    s.targets.join(',') + (s.partial ? ' (partial)' : ''),
    s.paths.join(' '),
  ]);
  const header = ['id', 'time', 'host', 'size', 'files', 'tags', 'complete on', 'paths'];
  const align: ('l' | 'r')[] = ['l', 'l', 'l', 'r', 'r', 'l', 'l', 'l'];
  // Paths first, then tags, hosts and targets give way; ids, times and figures never do.
  return long ? table(rows, { header, align }) : table(rows, { header, align, maxWidth: SNAPSHOT_TABLE_WIDTH, shrink: [7, 5, 2, 6] });
}

/** ls(1)'s letter for each entry type. */
const TYPE_LETTER: Record<string, string> = { dir: 'd', symlink: 'l', fifo: 'p', chardev: 'c', blockdev: 'b' };

function modeString(type: string, mode: number): string {
  const t = TYPE_LETTER[type] ?? '-';
  const rwx = (m: number) => (m & 4 ? 'r' : '-') + (m & 2 ? 'w' : '-') + (m & 1 ? 'x' : '-');
  return t + rwx(mode >> 6) + rwx(mode >> 3) + rwx(mode);
}

export function registerCopy(program: Command, ctx: CliContext): void {
  examples(
    program
      .command('copy')
      .description('replicate snapshots missing on one target from another (object level, verified)')
      .addOption(policyOpt())
      .requiredOption('--from <name>', 'target to copy from')
      .requiredOption('--to <name>', 'target to copy to')
      .option('--wait <duration>', 'wait up to this long for a lock held by another process (e.g. 10m) instead of exiting 11')
      .argument('[snapshot...]', 'snapshots to copy (default: every one missing on --to)')
      .action(async (snapshots: string[], o: { policy: string; from: string; to: string; wait?: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out, 'opening targets…');
        const waitMs = o.wait !== undefined ? parseDurationOption('--wait', o.wait) : undefined;
        const { runCopy } = await import('../../app/copy.js');
        const r = await runCopy(app, { policyFile: o.policy, from: o.from, to: o.to, snapshots, waitMs }).finally(() => app.stopProgress());
        ctx.setExitCode(r.exitCode);
        if (out.json) return out.emitJson(r);
        out.result(r.snapshots.length ? `copied ${r.snapshots.length} snapshot(s) from '${r.from}' to '${r.to}': ${r.packsCopied} packs, ${formatBytes(r.bytesCopied)} in ${formatDuration(r.durationMs)}` : `target '${r.to}' already holds every snapshot of '${r.from}'`);
        if (out.verbose) out.result(fetchedLine(r.bytesFetched, r.requests));
      }),
    ['triad copy -p /etc/triad/finance.yaml --from nas --to cloud', 'triad copy -p policies/demo.yaml --from nas --to offsite latest'],
  );
}

/** What an `auto` check read, and why that much. */
function rollingLine(r: RollingSelection): string {
  const fresh = r.neverVerified ? `, ${countOf(r.neverVerified, 'never verified before', 'never verified before')}` : '';
  return `rolling verification: ${countOf(r.packs, 'pack', 'packs')} least recently verified (${formatBytes(r.bytes)}${fresh}); at least ${formatBytes(r.quotaBytes)} a day covers ${formatBytes(r.storedBytes)} within ${formatDuration(r.everyMs)}`;
}
