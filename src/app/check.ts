import { TriadError } from '../core/errors.js';
import type { Random } from '../core/random.js';
import { checkRepository, type CheckReport } from '../repo/checker.js';
import { acquireLock } from '../repo/lock.js';
import { listKeyFiles } from '../repo/key-admin.js';
import { describeDamagedKeys } from '../repo/keys.js';
import { writeJournal } from '../repo/journal.js';
import { lockOptions } from './locking.js';
import { catalogFor, closeAll, errorMessage, hostName, loadPolicyFile, openTargets, passphraseFor, selectTargets, type AppContext } from './session.js';

export interface CheckResult {
  policy: string;
  targets: (CheckReport | { target: string; unreachable: true; error: string; errorCode?: string })[];
  ok: boolean;
  exitCode: number;
}

export async function runCheck(ctx: AppContext, opts: { policyFile: string; target?: string; readData: 'none' | 'all' | number; random: Random }): Promise<CheckResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const opened = await openTargets(ctx, policy, selectTargets(policy, opts.target ? [opts.target] : undefined), passphrase);
  const catalog = catalogFor(ctx, policy);
  try {
    const out: CheckResult['targets'] = [];
    for (const o of opened) {
      const startedAt = ctx.clock.now();
      const runId = catalog.startRun({ policy: policy.name, kind: 'check', target: o.spec.name, started_at: startedAt, details: { readData: opts.readData } });
      if (!o.repo) {
        out.push({ target: o.spec.name, unreachable: true, error: errorMessage(o.error), errorCode: o.error instanceof TriadError ? o.error.code : undefined });
        catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: 'failed', exit_code: 1, error: errorMessage(o.error) });
        continue;
      }
      const lock = await acquireLock(o.repo, 'shared', lockOptions(ctx, policy, { command: 'check' }));
      let report: CheckReport;
      try {
        report = await checkRepository(o.repo, {
          readData: opts.readData,
          random: opts.random,
          signal: ctx.signal,
          onProgress: (p) => ctx.events?.progress?.({ phase: `check ${o.spec.name}`, files: p.packs, totalFiles: p.totalPacks, bytes: p.bytes }),
        });
      } finally {
        await lock.release().catch(() => undefined);
      }
      // Every key file, not only those tried when opening: a damaged one would lock out its passphrase.
      for (const k of await listKeyFiles(o.repo.storage, ctx.signal)) {
        if (k.damage !== undefined) report.errors.push({ kind: 'key', message: describeDamagedKeys([{ id: k.id, reason: k.damage }]) });
      }
      out.push(report);
      const finishedAt = ctx.clock.now();
      const status = report.errors.length ? 'failed' : 'ok';
      const details = { readData: opts.readData, errors: report.errors.length, damagedPacks: report.damagedPacks.map((d) => d.pack) };
      // The verification result feeds 3-2-1-1-0 ("0 errors"): the journal keeps it for a catalogue rebuild.
      const { id: journalId } = await writeJournal([o.repo], {
        version: 1, kind: 'check', policy: policy.name, host: hostName(policy), started: startedAt.toISOString(), finished: finishedAt.toISOString(),
        status, exitCode: report.errors.length ? 1 : 0, targets: [{ name: o.spec.name, ok: report.errors.length === 0 }], bytesRead: report.bytesRead, details,
      });
      if (journalId) catalog.markJournalSeen(policy.name, o.spec.name, journalId);
      catalog.finishRun(runId, { finished_at: finishedAt, status, exit_code: report.errors.length ? 1 : 0, bytes_read: report.bytesRead, details });
    }
    // Every target unreachable with the same kind of error → that error's exit code (10, 12…).
    if (opened.every((o) => !o.repo)) throw opened[0]!.error;
    const ok = out.every((t) => !('unreachable' in t) && t.errors.length === 0);
    return { policy: policy.name, targets: out, ok, exitCode: ok ? 0 : 1 };
  } finally {
    catalog.close();
    await closeAll(opened);
  }
}
