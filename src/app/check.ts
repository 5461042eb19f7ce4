import { runReportedJob } from './job-run.js';
import { ExitCode, TriadError, exitCodeOf } from '../core/errors.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Policy } from '../policy/types.js';
import type { Repository } from '../repo/repository.js';
import type { Random } from '../core/random.js';
import { checkRepository, type CheckReport, type ReadData } from '../repo/check/index.js';
import { acquireLock } from '../repo/lock/index.js';
import { listKeyFiles } from '../repo/crypto/index.js';
import { describeDamagedKeys } from '../core/describe.js';
import { LEDGER_DETAIL, readJournal, writeJournal } from '../repo/model/index.js';
import { lockOptions } from './locking.js';
import { catalogFor, closeAll, errorMessage, hostName, loadPolicyFile, openTargets, isDamageError, passphraseFor, selectTargets, type AppContext } from './session.js';

/** What a check reads whole: as the repository check takes it, or `auto`, the rolling share the policy's `verify.every` sets. */
export type CheckReadData = Exclude<ReadData, { packs: readonly string[] }> | 'auto';

/** The packs an `auto` check picked: the least recently verified, at least `quotaBytes` of them. */
export interface RollingSelection {
  packs: number;
  bytes: number;
  /** ceil(stored bytes / days in verify.every): what a daily run must read to cover the copy in that period. */
  quotaBytes: number;
  storedBytes: number;
  everyMs: number;
  /** Packs among them never verified before. */
  neverVerified: number;
}

export interface CheckResult {
  policy: string;
  /** `unreachable`: not checked; `damaged` too when it was reached but is too damaged to open (damage found). */
  targets: ((CheckReport & { rolling?: RollingSelection }) | { target: string; unreachable: true; damaged?: true; error: string; errorCode?: string; hint?: string })[];
  ok: boolean;
  /** 0 no damage; 4 damage found; 1 a target could not be checked (or that target's code when none could). */
  exitCode: number;
}

type CheckOptions = { policyFile: string; target?: string; readData: CheckReadData; random: Random };

/** A check inside the job envelope (hooks, heartbeat, webhook): damage found is a failure to report. */
export async function runCheck(ctx: AppContext, opts: CheckOptions): Promise<CheckResult> {
  return runReportedJob(ctx, opts.policyFile, 'check', {}, (c) => check(c, opts), (r) => ({
    targets: r.targets.map((t) => ('unreachable' in t ? { name: t.target, ok: false, error: t.error } : { name: t.target, ok: t.errors.length === 0 && t.damagedPacks.length === 0 })),
  }));
}

async function check(ctx: AppContext, opts: CheckOptions): Promise<CheckResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const opened = await openTargets(ctx, policy, selectTargets(policy, opts.target ? [opts.target] : undefined), passphrase);
  const catalog = catalogFor(ctx, policy);
  try {
    const out: CheckResult['targets'] = [];
    const failures: unknown[] = [];
    for (const o of opened) {
      const startedAt = ctx.clock.now();
      const runId = catalog.startRun({ policy: policy.name, kind: 'check', target: o.spec.name, started_at: startedAt, details: { readData: opts.readData } });
      let report: CheckReport & { rolling?: RollingSelection };
      try {
        if (!o.repo) throw o.error;
        const rolling = opts.readData === 'auto' ? rollingSelection(catalog, policy, o.spec.name) : undefined;
        const readData: ReadData = rolling ? { packs: rolling.ids } : (opts.readData as ReadData);
        report = await checkTarget(ctx, policy, o.repo, catalog, { readData, random: opts.random });
        if (rolling) report.rolling = rolling.summary;
      } catch (err) {
        if (ctx.signal?.aborted) throw err;
        const damaged = isDamageError(err);
        if (!damaged) failures.push(err);
        out.push({ target: o.spec.name, unreachable: true, ...(damaged ? { damaged: true as const } : {}), error: errorMessage(err), errorCode: err instanceof TriadError ? err.code : undefined, hint: err instanceof TriadError ? err.hint : undefined });
        catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: 'failed', exit_code: damaged ? ExitCode.FINDING : exitCodeOf(err), error: errorMessage(err) });
        continue;
      }
      // Every key file, not only those tried when opening: a damaged one would lock out its passphrase.
      for (const k of await listKeyFiles(o.repo.storage, ctx.signal)) {
        if (k.damage !== undefined) report.errors.push({ kind: 'key', message: describeDamagedKeys([{ id: k.id, reason: k.damage }]) });
      }
      out.push(report);
      const finishedAt = ctx.clock.now();
      const damaged = report.errors.length > 0;
      const status = damaged ? 'failed' : 'ok';
      const exitCode = damaged ? ExitCode.FINDING : ExitCode.OK;
      const failedPacks = failedPackIds(report);
      const details = { readData: opts.readData, errors: report.errors.length, damagedPacks: report.damagedPacks.map((d) => d.pack), reReads: report.reReads.length, packsVerified: report.verifiedPacks.length };
      // The verification result feeds 3-2-1-1-0 ("0 errors") and the ledger: the journal keeps
      // both (the ids of the packs verified) for a catalogue rebuild.
      const { id: journalId } = await writeJournal([o.repo], {
        version: 1, kind: 'check', policy: policy.name, host: hostName(policy), started: startedAt.toISOString(), finished: finishedAt.toISOString(),
        status, exitCode, targets: [{ name: o.spec.name, ok: !damaged }], bytesRead: report.bytesRead,
        details: { ...details, [LEDGER_DETAIL]: { verified: report.verifiedPacks, intact: [], failed: failedPacks } },
      });
      catalog.transaction(() => {
        if (journalId) catalog.markJournalSeen(policy.name, o.spec.name, journalId);
        catalog.recordVerification(policy.name, o.spec.name, { scope: 'pack', at: finishedAt, runId, verified: report.verifiedPacks, failed: failedPacks });
        catalog.finishRun(runId, { finished_at: finishedAt, status, exit_code: exitCode, bytes_read: report.bytesRead, details });
      });
    }
    // No target could be checked at all: that error itself (its exit code: 10, 11, 12…).
    if (failures.length === opened.length) throw failures[0];
    const damaged = out.some((t) => ('unreachable' in t ? t.damaged === true : t.errors.length > 0));
    const ok = failures.length === 0 && !damaged;
    return { policy: policy.name, targets: out, ok, exitCode: failures.length > 0 ? ExitCode.FAILED : damaged ? ExitCode.FINDING : ExitCode.OK };
  } finally {
    catalog.close();
    await closeAll(opened);
  }
}

/** Checks one replica under a shared lock, against the snapshots the catalogue records as complete there. */
async function checkTarget(ctx: AppContext, policy: Policy, repo: Repository, catalog: Catalog, opts: { readData: ReadData; random: Random }): Promise<CheckReport> {
  const expectedSnapshots = catalog
    .listSnapshots(policy.name, { target: repo.target })
    .filter((s) => s.presence.some((p) => p.target === repo.target && p.status === 'complete'))
    .map((s) => ({ id: s.id, time: s.time }));
  const lock = await acquireLock(repo, 'shared', lockOptions(ctx, policy, { command: 'check' }));
  try {
    const report = await checkRepository(repo, {
      readData: opts.readData,
      random: opts.random,
      expectedSnapshots,
      signal: ctx.signal,
      onProgress: (p) => ctx.emit?.({ type: 'progress', job: 'check', target: repo.target, files: p.packs, totalFiles: p.totalPacks, bytes: p.bytes }),
      onReRead: (r) => ctx.emit?.({ type: 'pack-reread', target: repo.target, pack: r.pack, reason: r.reason }),
    });
    await settleForgottenElsewhere(policy, repo, catalog, report);
    return report;
  } finally {
    await lock.release().catch(() => undefined);
  }
}

/**
 * A snapshot this catalogue records as complete that another host's `forget` (or a forget run
 * from another catalogue) removed is no damage: the repository's journal says who forgot it,
 * when and by which rule, and the catalogue learns it. The journal is read only when some
 * snapshot is missing.
 */
async function settleForgottenElsewhere(policy: Policy, repo: Repository, catalog: Catalog, report: CheckReport): Promise<void> {
  if (!report.errors.some((e) => e.kind === 'missing-snapshot')) return;
  const forgotten = new Map<string, { at: string; rule: string }>();
  for (const r of (await readJournal(repo)).records) {
    if (r.kind !== 'forget' || r.policy !== policy.name || !Array.isArray(r.details?.forgotten)) continue;
    const rule = `${typeof r.details.rule === 'string' ? r.details.rule : 'retention'} (forget on host ${r.host})`;
    for (const f of r.details.forgotten as unknown[]) {
      const id = (f as { id?: unknown } | null)?.id;
      if (typeof id === 'string') forgotten.set(id, { at: r.finished, rule });
    }
  }
  report.errors = report.errors.filter((e) => {
    const by = e.kind === 'missing-snapshot' && e.snapshot !== undefined ? forgotten.get(e.snapshot) : undefined;
    if (by === undefined) return true;
    catalog.markForgotten(e.snapshot!, repo.target, by.at, by.rule);
    return false;
  });
}

/** Packs the check found damaged, missing or of the wrong size: failed verifications in the ledger. */
function failedPackIds(report: CheckReport): string[] {
  const ids = new Set(report.damagedPacks.map((d) => d.pack));
  for (const e of report.errors) if (e.pack && (e.kind === 'missing-pack' || e.kind === 'pack-size' || e.kind === 'damaged-pack')) ids.add(e.pack);
  return [...ids].sort();
}

const DAY_MS = 86_400_000;

/**
 * The rolling share of `check --read-data-subset auto`: the target's packs least recently
 * verified (never verified first), whole packs until they hold at least ceil(stored bytes /
 * days in verify.every), so that one run a day reads every stored byte within that period.
 * One pass over the target's presence rows, stopped once the share is reached.
 */
function rollingSelection(catalog: Catalog, policy: Policy, target: string): { ids: string[]; summary: RollingSelection } {
  const storedBytes = catalog.storedBytes(policy.name, target);
  const everyMs = policy.verify.every;
  const quotaBytes = Math.ceil(storedBytes / (everyMs / DAY_MS));
  const ids: string[] = [];
  let bytes = 0;
  let neverVerified = 0;
  for (const p of catalog.packsByVerificationAge(policy.name, target)) {
    if (bytes >= quotaBytes) break;
    ids.push(p.pack);
    bytes += p.size;
    if (p.verifiedAt === null) neverVerified++;
  }
  return { ids, summary: { packs: ids.length, bytes, quotaBytes, storedBytes, everyMs, neverVerified } };
}
