import { Option, type Command } from 'commander';
import type { CliContext } from '../context.js';
import { examples } from '../context.js';
import { formatBytes, table, type Output } from '../output.js';
import { allHostsOption, appContext, collect, hostOption } from './app-context.js';
import { TriadError } from '../../core/errors.js';
import { parseDuration, parsePercent, parseSize } from '../../policy/units.js';
import type { PruneTargetOutcome } from '../../app/prune.js';
import type { RepairedPack, RepairPacksTargetOutcome } from '../../app/repair.js';

const policyOpt = () => new Option('-p, --policy <file>', 'policy file (YAML)').makeOptionMandatory();
const waitOpt = () => new Option('--wait <duration>', 'wait up to DURATION for another process\'s lock (e.g. 10m) instead of failing with exit 11');

function usage<T>(flag: string, value: string, parse: (v: string) => T): T {
  try {
    return parse(value);
  } catch (err) {
    throw new TriadError('E_USAGE', `${flag} ${value}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function waitMs(v: string | undefined): number | undefined {
  return v === undefined ? undefined : usage('--wait', v, parseDuration);
}

/** `0` (remove at once) or a duration. */
function graceMs(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return v.trim() === '0' ? 0 : usage('--unindexed-grace', v, parseDuration);
}

const graceOpt = () =>
  new Option('--unindexed-grace <duration>', 'remove packs no index names only once an earlier prune saw them at least this long ago (default 1h; 0 = now)');

export function registerMaintenance(program: Command, ctx: CliContext): void {
  examples(
    program
      .command('forget')
      .description("remove snapshots the retention rules do not keep (the target's own retention overrides the policy's)")
      .addOption(policyOpt())
      .option('--target <name>', 'only this target')
      .option('-n, --dry-run', 'list every snapshot with keep/remove and the rule that keeps it; change nothing')
      .addOption(hostOption('apply retention to the snapshots'))
      .addOption(allHostsOption('apply retention to the snapshots'))
      .option('--prune', 'prune each target afterwards, under the same lock (prune keeps the data of every host)')
      .option('--max-repack-size <size>', 'with --prune: repack at most this many bytes of packs')
      .addOption(graceOpt())
      .addOption(waitOpt())
      .action(async (o: { policy: string; target?: string; host?: string; allHosts?: boolean; dryRun?: boolean; prune?: boolean; maxRepackSize?: string; unindexedGrace?: string; wait?: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { runForget } = await import('../../app/forget.js');
        const r = await runForget(app, {
          policyFile: o.policy,
          target: o.target,
          hosts: { host: o.host, allHosts: o.allHosts },
          dryRun: o.dryRun,
          prune: o.prune,
          wait: waitMs(o.wait),
          maxRepackSize: o.maxRepackSize === undefined ? undefined : usage('--max-repack-size', o.maxRepackSize, parseSize),
          unindexedGrace: graceMs(o.unindexedGrace),
          packSize: ctx.injected.packSize,
        }).finally(() => app.stopProgress());
        if (out.json) out.emitJson(r);
        else {
          for (const t of r.targets) {
            if (!t.ok && t.snapshots.length === 0) {
              out.result(`${out.mark(false)} ${t.target}: ${t.error}`);
              continue;
            }
            out.result(`${t.target}: ${r.dryRun ? 'would remove' : 'removed'} ${t.snapshots.filter((s) => !s.keep).length} of ${t.snapshots.length} snapshot(s) (${t.retentionSource} retention, time zone ${r.timezone})`);
            out.line(
              table(
                t.snapshots.map((s) => [s.id.slice(0, 8), out.time(s.time, r.timezone), s.host, s.keep ? out.c.green('keep') : out.c.red('remove'), s.reasons.join(', ')]),
                { header: ['id', 'time', 'host', 'action', 'kept by'] },
              ),
            );
            if (t.prune) renderPrune(out, t.prune, false);
            if (!t.ok && t.error) out.error(`${t.target}: ${t.error}`);
          }
        }
        ctx.setExitCode(r.exitCode);
      }),
    ['triad forget -p policies/demo.yaml --dry-run', 'triad forget -p /etc/triad/finance.yaml --prune', 'triad forget -p /etc/triad/finance.yaml --target cloud --json'],
  );

  examples(
    program
      .command('prune')
      .description('remove data no snapshot references and repack mostly-unused packs; reports space freed')
      .addOption(policyOpt())
      .option('--target <name>', 'only this target')
      .option('-n, --dry-run', 'show what would be removed and repacked; change nothing')
      .option('--max-repack-size <size>', 'repack at most this many bytes of packs (e.g. 2GiB)')
      .option('--repack-below <pct>', 'repack packs whose used share is below this (default 75%)')
      .addOption(graceOpt())
      .addOption(waitOpt())
      .action(async (o: { policy: string; target?: string; dryRun?: boolean; maxRepackSize?: string; repackBelow?: string; unindexedGrace?: string; wait?: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { runPrune } = await import('../../app/prune.js');
        const r = await runPrune(app, {
          policyFile: o.policy,
          target: o.target,
          dryRun: o.dryRun,
          wait: waitMs(o.wait),
          maxRepackSize: o.maxRepackSize === undefined ? undefined : usage('--max-repack-size', o.maxRepackSize, parseSize),
          repackBelow: o.repackBelow === undefined ? undefined : usage('--repack-below', o.repackBelow, parsePercent) / 100,
          unindexedGrace: graceMs(o.unindexedGrace),
          packSize: ctx.injected.packSize,
        }).finally(() => app.stopProgress());
        if (out.json) out.emitJson(r);
        else for (const t of r.targets) renderPrune(out, t, r.dryRun);
        ctx.setExitCode(r.exitCode);
      }),
    ['triad prune -p policies/demo.yaml --dry-run', 'triad prune -p /etc/triad/finance.yaml --max-repack-size 2GiB', 'triad prune -p /etc/triad/finance.yaml --target nas --wait 30m'],
  );

  examples(
    program
      .command('unlock')
      .description('remove stale locks (expired, or left by a process that no longer runs on this host)')
      .addOption(policyOpt())
      .option('--target <name>', 'only this target')
      .option('--remove-all', 'remove every lock, including those of running processes (dangerous)')
      .action(async (o: { policy: string; target?: string; removeAll?: boolean }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        if (o.removeAll) out.warn('--remove-all removes the locks of processes that may still be running; a prune running now could lose data a backup is writing');
        const { runUnlock } = await import('../../app/unlock.js');
        const r = await runUnlock(app, { policyFile: o.policy, target: o.target, removeAll: o.removeAll });
        if (out.json) out.emitJson(r);
        else {
          for (const t of r.targets) {
            if (!t.ok) {
              out.result(`${out.mark(false)} ${t.target}: ${t.error}`);
              continue;
            }
            out.result(`${t.target}: removed ${t.removed.length} lock(s), ${t.kept.length} live lock(s) left`);
            for (const l of t.removed) out.line(`  removed ${l.holder ?? l.name}${l.reason ? ` — ${l.reason}` : ''}`);
            for (const l of t.kept) out.line(`  kept    ${l.holder ?? l.name}`);
          }
        }
        ctx.setExitCode(r.exitCode);
      }),
    ['triad unlock -p /etc/triad/finance.yaml', 'triad unlock -p /etc/triad/finance.yaml --target cloud --remove-all'],
  );

  const repair = examples(program.command('repair').description('repair parts of a repository'), ['triad repair index -p /etc/triad/finance.yaml --target nas', 'triad repair packs -p /etc/triad/finance.yaml --target nas']);
  examples(
    repair
      .command('index')
      .description('rebuild the index files by reading every pack header, compacted into few (also makes packs of an interrupted backup usable again)')
      .addOption(policyOpt())
      .option('--target <name>', 'only this target')
      .addOption(new Option('--unindexed-grace <duration>', 'remove temporary files of interrupted writes only once a prune saw them at least this long ago (default 1h; 0 = now)'))
      .addOption(waitOpt())
      .action(async (o: { policy: string; target?: string; wait?: string; unindexedGrace?: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { runRepairIndex } = await import('../../app/repair.js');
        const r = await runRepairIndex(app, { policyFile: o.policy, target: o.target, wait: waitMs(o.wait), unindexedGrace: graceMs(o.unindexedGrace) }).finally(() => app.stopProgress());
        if (out.json) out.emitJson(r);
        else {
          for (const t of r.targets) {
            if (t.error) {
              out.result(`${out.mark(false)} ${t.target}: ${t.error}`);
              continue;
            }
            out.result(`${t.target}: indexed ${t.packsIndexed} pack(s) (${t.packsAdded.length} not indexed before) into ${t.indexFilesWritten.length} index file(s); removed ${t.indexFilesRemoved.length} old index file(s)`);
            for (const d of t.damaged) out.error(`${t.target}: pack ${d.pack} left out: ${d.reason}`);
            renderTemporary(out, 'removed', t.temporaryRemoved, t.temporaryKept);
          }
        }
        ctx.setExitCode(r.exitCode);
      }),
    ['triad repair index -p /etc/triad/finance.yaml', 'triad repair index -p /etc/triad/finance.yaml --target nas'],
  );
  examples(
    repair
      .command('packs')
      .description("replace damaged, truncated or missing packs: keep the blobs that still verify, fetch the others from the policy's other targets (exit 0 all recovered, 4 some blobs on no target intact)")
      .addOption(policyOpt())
      .option('--target <name>', 'only this target (default: every target)')
      .option('--pack <id>', 'repair this pack (full id or unique prefix; repeatable) instead of those a full check finds; needs --target', collect)
      .option('-n, --dry-run', 'show what would be kept, fetched and lost; change nothing')
      .addOption(waitOpt())
      .action(async (o: { policy: string; target?: string; pack?: string[]; dryRun?: boolean; wait?: string }, cmd: Command) => {
        const out = ctx.output(cmd);
        const app = appContext(ctx, cmd, out);
        const { runRepairPacks } = await import('../../app/repair.js');
        const r = await runRepairPacks(app, { policyFile: o.policy, target: o.target, packs: o.pack, dryRun: o.dryRun, wait: waitMs(o.wait), packSize: ctx.injected.packSize }).finally(() => app.stopProgress());
        if (out.json) out.emitJson(r);
        else for (const t of r.targets) renderRepairPacks(out, t, r.dryRun);
        ctx.setExitCode(r.exitCode);
      }),
    ['triad repair packs -p /etc/triad/finance.yaml --target nas', 'triad repair packs -p /etc/triad/finance.yaml --target nas --pack 3fa2c1 --dry-run'],
  );
}

/** Lost files named at most; the rest are counted. */
const LOST_FILES_SHOWN = 50;

function renderRepairPacks(out: Output, t: RepairPacksTargetOutcome, dryRun: boolean): void {
  if (t.error !== undefined) {
    out.result(`${out.c.red('✗')} ${t.target}: ${t.error}`);
    if (t.hint) out.result(`  hint: ${t.hint}`);
    return;
  }
  const packs = t.packs ?? [];
  if (packs.length === 0) {
    out.result(`${t.target}: no damaged pack found`);
    return;
  }
  const sum = (f: (p: RepairedPack) => number) => packs.reduce((n, p) => n + f(p), 0);
  const fetched = sum((p) => Object.values(p.fetched).reduce((a, b) => a + b, 0));
  const counts = `${sum((p) => p.kept)} blob(s) kept, ${fetched} fetched from other targets, ${sum((p) => p.lost)} lost`;
  if (dryRun) out.result(`${t.target}: would repair ${packs.length} pack(s): ${counts}`);
  else out.result(`${t.target}: repaired ${packs.length} pack(s): ${counts}; wrote ${t.packsWritten?.length ?? 0} pack(s) and ${t.indexFilesWritten?.length ?? 0} index file(s), removed ${t.packsRemoved?.length ?? 0} damaged pack(s)`);
  for (const p of packs) {
    const from = Object.entries(p.fetched).map(([name, n]) => `${n} from '${name}'`);
    out.line(`  pack ${p.pack.slice(0, 12)}: ${p.blobs} blob(s): ${[`${p.kept} intact`, ...from, ...(p.lost ? [`${p.lost} lost`] : [])].join(', ')} — ${p.reason}`);
  }
  const lost = t.lostFiles ?? [];
  if (!t.lost?.length) return;
  out.result(`${out.mark(false)} ${t.target}: ${t.lost.length} blob(s) are intact on no target; these files ${dryRun ? 'would stay unrestorable' : 'cannot be restored'} from '${t.target}':`);
  for (const f of lost.slice(0, LOST_FILES_SHOWN)) out.result(`  snapshot ${f.snapshot.slice(0, 8)} (${f.policy}): ${f.path}${f.what === 'listing' ? ' (directory listing lost: everything below it)' : ''}`);
  if (lost.length > LOST_FILES_SHOWN) out.result(`  … and ${lost.length - LOST_FILES_SHOWN} more`);
  out.result(`  hint: forget the affected snapshots, or restore those files from another copy (the live source, another backup) and back up again; a backup stores content the sources still hold again`);
}

function renderPrune(out: Output, t: PruneTargetOutcome, dryRun: boolean): void {
  if (!t.ok || !t.plan) {
    out.result(`${out.mark(false)} ${t.target}: prune failed: ${t.error ?? 'unknown error'}`);
    if (t.hint) out.result(`  hint: ${t.hint}`);
    return;
  }
  const p = t.plan;
  if (dryRun) {
    out.result(`${t.target}: would remove ${p.remove.length + p.removeUnindexed.length} pack(s) and repack ${p.repack.length} (${formatBytes(p.bytesToRepack)}), freeing about ${formatBytes(p.bytesToFree)} of ${formatBytes(p.packs.bytes)}`);
  } else {
    out.result(`${t.target}: removed ${t.packsRemoved ?? 0} pack(s), repacked ${p.repack.length} into ${t.packsWritten ?? 0}; freed ${formatBytes(t.bytesFreed ?? 0)} (${formatBytes(t.bytesBefore ?? 0)} → ${formatBytes(t.bytesAfter ?? 0)})`);
  }
  out.line(`  ${p.snapshots} snapshot(s) use ${p.usedBlobs} blob(s) in ${p.packs.total} pack(s); ${p.indexFiles} index file(s)`);
  if (p.keepUnindexed.length) out.line(`  ${p.keepUnindexed.length} pack(s) not in any index left alone for now (a backup may have been interrupted; a later prune removes them, 'triad repair index' indexes them)`);
  if (p.dropFromIndex.length) out.line(`  ${p.dropFromIndex.length} missing or damaged pack(s) that nothing uses dropped from the index`);
  renderTemporary(out, dryRun ? 'would remove' : 'removed', p.removeTemporary, p.keepTemporary);
}

/** Temporary files of interrupted saves: what went, and what waits for a later prune. */
function renderTemporary(out: Output, verb: string, removed: { size: number }[], kept: { size: number }[]): void {
  const bytes = (l: { size: number }[]) => formatBytes(l.reduce((a, t) => a + t.size, 0));
  if (removed.length) out.line(`  ${verb} ${removed.length} temporary file(s) left by interrupted writes (${bytes(removed)})`);
  if (kept.length) out.line(`  ${kept.length} temporary file(s) (${bytes(kept)}) left alone for now: a write may still own them; a prune removes them once it has seen them for the grace period`);
}
