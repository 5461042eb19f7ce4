import { TriadError } from '../core/errors.js';
import { describeHolder, holderAgeMs, lockHolder, removeLocks, type LockInfo } from '../repo/lock/index.js';
import { closeAll, errorMessage, hostName, loadPolicyFile, openTargets, passphraseFor, requireSome, selectTargets, type AppContext } from './session.js';

export interface UnlockOptions {
  policyFile: string;
  target?: string;
  /** Remove every lock, live ones included (after a warning). */
  removeAll?: boolean;
}

export interface UnlockedLock {
  name: string;
  holder?: string;
  kind?: string;
  host?: string;
  pid?: number;
  since?: string;
  stale: boolean;
  reason?: string;
}

export interface UnlockResult {
  policy: string;
  targets: { target: string; ok: boolean; error?: string; errorCode?: string; removed: UnlockedLock[]; kept: UnlockedLock[] }[];
  exitCode: number;
}

function view(l: LockInfo, now: Date): UnlockedLock {
  const r = l.record;
  return {
    name: l.name,
    stale: l.stale,
    ...(l.staleReason ? { reason: l.staleReason } : {}),
    ...(r ? { holder: describeHolder(r, now), kind: r.kind, host: r.host, pid: r.pid, since: r.time } : {}),
  };
}

/** Removes stale locks (expired, or left by a process gone from this host); with removeAll every lock. */
export async function runUnlock(ctx: AppContext, opts: UnlockOptions): Promise<UnlockResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const opened = await openTargets(ctx, policy, selectTargets(policy, opts.target ? [opts.target] : undefined), passphrase);
  try {
    requireSome(opened);
    const targets: UnlockResult['targets'] = [];
    for (const o of opened) {
      if (!o.repo) {
        targets.push({ target: o.spec.name, ok: false, error: errorMessage(o.error), errorCode: o.error instanceof TriadError ? o.error.code : undefined, removed: [], kept: [] });
        continue;
      }
      const now = ctx.clock.now();
      const r = await removeLocks(o.repo, { clock: ctx.clock, host: hostName(policy), all: !!opts.removeAll, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      for (const l of r.removed.filter((x) => !x.stale)) {
        ctx.emit?.({ type: 'live-lock-removed', target: o.spec.name, lock: l.name, ...(l.record ? { holder: lockHolder(l.record), ageMs: holderAgeMs(l.record, now) } : {}) });
      }
      targets.push({ target: o.spec.name, ok: true, removed: r.removed.map((l) => view(l, now)), kept: r.kept.map((l) => view(l, now)) });
    }
    return { policy: policy.name, targets, exitCode: targets.every((t) => t.ok) ? 0 : 1 };
  } finally {
    await closeAll(opened);
  }
}
