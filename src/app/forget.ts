import { runReportedJob } from './job-run.js';
import { TriadError, ExitCode, exitCodeOf } from '../core/errors.js';
import type { Policy, RetentionSpec, TargetSpec } from '../policy/types.js';
import type { Catalog } from '../catalog/catalog.js';
import { writeJournal } from '../repo/model/index.js';
import type { Repository } from '../repo/repository.js';
import { applyRetention, hasRetentionRules } from '../repo/maintenance/index.js';
import { loadSnapshots, type Snapshot } from '../repo/model/index.js';
import { withPolicyLocks } from './locking.js';
import { pruneTarget, type PruneTargetOutcome } from './prune.js';
import { catalogFor, closeAll, errorMessage, hostName, loadPolicyFile, openTargets, passphraseFor, requireSome, selectTargets, selectedHost, warnDamagedSnapshot, type AppContext, type HostSelection } from './session.js';

export interface ForgetOptions {
  policyFile: string;
  target?: string;
  dryRun?: boolean;
  /** Prune each target right after forgetting, under the same lock. */
  prune?: boolean;
  wait?: number;
  maxRepackSize?: number;
  unindexedGrace?: number;
  /** Test hook: smaller packs when repacking. */
  packSize?: number;
  /** Whose snapshots retention applies to (default: this host's only). */
  hosts?: HostSelection;
}

export interface ForgetDecision {
  id: string;
  time: string;
  host: string;
  paths: string[];
  keep: boolean;
  /** Rules that keep it (keep_last, keep_daily, …); empty when removed. */
  reasons: string[];
}

export interface ForgetTargetOutcome {
  target: string;
  ok: boolean;
  error?: string;
  errorCode?: string;
  /** The rules used: the target's own `retention`, else the policy's. */
  retention: RetentionSpec;
  retentionSource: 'target' | 'policy';
  snapshots: ForgetDecision[];
  removed: string[];
  prune?: PruneTargetOutcome;
}

export interface ForgetResult {
  policy: string;
  dryRun: boolean;
  timezone: string;
  targets: ForgetTargetOutcome[];
  exitCode: number;
}

export function retentionFor(policy: Policy, spec: TargetSpec): { retention: RetentionSpec; source: 'target' | 'policy' } {
  return spec.retention ? { retention: spec.retention, source: 'target' } : { retention: policy.retention, source: 'policy' };
}

/** Every target has retention rules (its own or the policy's), so `forget` can run unattended. */
export function retentionApplies(policy: Policy): boolean {
  return policy.targets.length > 0 && policy.targets.every((t) => hasRetentionRules(retentionFor(policy, t).retention));
}

/** `keep_daily 7, keep_weekly 4` — how the catalogue names the rule set that forgot a snapshot. */
export function describeRetention(r: RetentionSpec): string {
  const parts = Object.entries(r)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => (k === 'keep_within' ? `${k} ${Math.round(Number(v) / 1000)}s` : `${k} ${v}`));
  return parts.join(', ') || 'none';
}

/**
 * Snapshots are grouped like restic's default (host and paths), each group retained on its
 * own, so a host or a changed source list never pushes another's snapshots out. With `host`,
 * only that host's snapshots are decided on: another host's are not touched (nor listed).
 */
export function decideForget(snapshots: Snapshot[], policyName: string, retention: RetentionSpec, opts: { timezone: string; now: Date; host?: string | undefined }): ForgetDecision[] {
  const mine = snapshots.filter((s) => s.policy === policyName && (opts.host === undefined || s.host === opts.host));
  const groups = new Map<string, Snapshot[]>();
  for (const s of mine) {
    const key = JSON.stringify([s.host, [...s.paths].sort()]);
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  const out: ForgetDecision[] = [];
  for (const g of groups.values()) {
    for (const d of applyRetention(g, retention, opts)) {
      out.push({ id: d.snapshot.id, time: d.snapshot.time, host: d.snapshot.host, paths: d.snapshot.paths, keep: d.keep, reasons: d.reasons });
    }
  }
  return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1));
}

/** A forget (and its prune) inside the job envelope (hooks, heartbeat, webhook); a dry run reports nothing. */
export async function runForget(ctx: AppContext, opts: ForgetOptions): Promise<ForgetResult> {
  return runReportedJob(ctx, opts.policyFile, 'forget', { disabled: opts.dryRun === true }, (c) => forget(c, opts), (r) => ({
    targets: r.targets.map((t) => ({ name: t.target, ok: t.ok, ...(t.error !== undefined ? { error: t.error } : {}) })),
  }));
}

async function forget(ctx: AppContext, opts: ForgetOptions): Promise<ForgetResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const specs = selectTargets(policy, opts.target ? [opts.target] : undefined);
  for (const spec of specs) {
    const { retention, source } = retentionFor(policy, spec);
    if (!hasRetentionRules(retention)) {
      throw new TriadError('E_USAGE', `${source === 'target' ? `target '${spec.name}'` : `policy ${policy.name}`} has no retention rule: forget would keep every snapshot`, {
        hint: 'add a retention section to the policy, e.g. retention: {keep_daily: 14, keep_weekly: 8}',
      });
    }
  }
  const passphrase = await passphraseFor(ctx, policy);
  const opened = await openTargets(ctx, policy, specs, passphrase);
  try {
    const usable = requireSome(opened);
    const targets: ForgetTargetOutcome[] = opened
      .filter((o) => !o.repo)
      .map((o) => ({ target: o.spec.name, ok: false, error: errorMessage(o.error), errorCode: o.error instanceof TriadError ? o.error.code : undefined, ...asRetention(policy, o.spec), snapshots: [], removed: [] }));
    const catalog = opts.dryRun ? undefined : catalogFor(ctx, policy);
    try {
      await withPolicyLocks(ctx, policy, usable.map((o) => o.repo!), opts.dryRun ? 'shared' : 'exclusive', { command: 'forget', wait: opts.wait }, async (signal) => {
        for (const o of usable) {
          const outcome = await forgetTarget(ctx, policy, o.spec, o.repo!, catalog, { ...opts, signal });
          if (opts.prune && !opts.dryRun && outcome.ok) {
            outcome.prune = await pruneTarget(ctx, policy, o.repo!, catalog, { signal, maxRepackSize: opts.maxRepackSize, unindexedGrace: opts.unindexedGrace, packSize: opts.packSize });
            if (!outcome.prune.ok) outcome.ok = false;
          }
          targets.push(outcome);
        }
        // The file entries of snapshots now forgotten on every target go, with the versions only they held.
        catalog?.freeForgottenFiles();
      });
    } finally {
      catalog?.close();
    }
    targets.sort((a, b) => (a.target < b.target ? -1 : 1));
    return { policy: policy.name, dryRun: !!opts.dryRun, timezone: policy.timezone, targets, exitCode: targets.every((t) => t.ok) ? 0 : 1 };
  } finally {
    await closeAll(opened);
  }
}

function asRetention(policy: Policy, spec: TargetSpec): { retention: RetentionSpec; retentionSource: 'target' | 'policy' } {
  const r = retentionFor(policy, spec);
  return { retention: r.retention, retentionSource: r.source };
}

/** Forgets on one replica (caller holds its exclusive lock): marks each snapshot forgotten in the catalogue, then removes its object. */
async function forgetTarget(ctx: AppContext, policy: Policy, spec: TargetSpec, repo: Repository, catalog: Catalog | undefined, opts: ForgetOptions & { signal: AbortSignal }): Promise<ForgetTargetOutcome> {
  const started = ctx.clock.now();
  const base = asRetention(policy, spec);
  const runId = catalog?.startRun({ policy: policy.name, kind: 'forget', target: repo.target, started_at: started, details: { retention: base.retention } });
  try {
    const decisions = decideForget(await loadSnapshots(repo, { onDamaged: warnDamagedSnapshot(ctx, repo.target), signal: opts.signal }), policy.name, base.retention, { timezone: policy.timezone, now: started, host: selectedHost(policy, opts.hosts) });
    const doomed = decisions.filter((d) => !d.keep);
    const removed: string[] = [];
    if (!opts.dryRun) {
      const rule = `${base.retentionSource} retention: ${describeRetention(base.retention)}`;
      // Snapshots first (reverse write order); the data they alone used is freed by prune. Each is
      // marked forgotten in the catalogue before its object goes: a run killed in between leaves a
      // snapshot the catalogue calls forgotten, which the next forget removes, never one it calls
      // complete on a target that no longer holds it (which check would report as damage).
      for (const d of doomed) {
        opts.signal.throwIfAborted();
        if (catalog?.snapshotById(d.id, policy.name)) catalog.markForgotten(d.id, repo.target, ctx.clock.now(), rule);
        await repo.storage.remove(`snapshots/${d.id}`, { signal: opts.signal });
        removed.push(d.id);
      }
      const finished = ctx.clock.now();
      if (removed.length) {
        await writeJournal([repo], {
          version: 1, kind: 'forget', policy: policy.name, host: hostName(policy), started: started.toISOString(), finished: finished.toISOString(),
          status: 'ok', exitCode: ExitCode.OK, targets: [{ name: repo.target, ok: true }],
          details: { rule, timezone: policy.timezone, retention: base.retention, forgotten: doomed.map((d) => ({ id: d.id, time: d.time })), kept: decisions.filter((d) => d.keep).map((d) => ({ id: d.id, reasons: d.reasons })) },
        });
      }
      if (catalog && runId !== undefined) catalog.finishRun(runId, { finished_at: finished, status: 'ok', exit_code: 0, details: { rule, forgotten: removed, kept: decisions.length - removed.length } });
    }
    return { target: repo.target, ok: true, ...base, snapshots: decisions, removed };
  } catch (err) {
    const interrupted = opts.signal.aborted;
    if (catalog && runId !== undefined) {
      catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: interrupted ? 'interrupted' : 'failed', exit_code: exitCodeOf(err), error: errorMessage(err) });
    }
    if (interrupted) throw err;
    return { target: repo.target, ok: false, error: errorMessage(err), errorCode: err instanceof TriadError ? err.code : undefined, ...base, snapshots: [], removed: [] };
  }
}
