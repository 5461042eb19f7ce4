import type { Policy } from '../policy/types.js';
import { acquireLock } from '../repo/lock/index.js';
import { lockOptions } from './locking.js';
import { BlobReader } from '../repo/read/index.js';
import { loadIndexRoutingAround } from '../repo/index/index.js';
import { loadSnapshots, resolveSnapshot, type Snapshot } from '../repo/model/index.js';
import { closeAll, hostName, loadPolicyFile, openTargets, passphraseFor, requireSome, selectTargets, warnDamagedIndex, warnDamagedSnapshot, type AppContext, type OpenedTarget } from './session.js';

/** One replica opened for reading: the named target, else the first one that opens. */
export interface ReadSession {
  policy: Policy;
  target: string;
  reader: BlobReader;
  snapshots: Snapshot[];
  opened: OpenedTarget[];
  close(): Promise<void>;
}

export async function openForRead(ctx: AppContext, policyFile: string, target?: string, command = 'restore'): Promise<ReadSession> {
  const policy = await loadPolicyFile(ctx, policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const specs = selectTargets(policy, target ? [target] : undefined);
  // Nearest copy first: on-site targets usually restore fastest.
  const ordered = [...specs].sort((a, b) => Number(a.offsite) - Number(b.offsite));
  const opened = await openTargets(ctx, policy, ordered, passphrase);
  try {
    const chosen = requireSome(opened)[0]!;
    const repo = chosen.repo!;
    // A shared lock keeps prune from removing data while it is being read.
    const lock = await acquireLock(repo, 'shared', lockOptions(ctx, policy, { command }));
    try {
      const routed = await loadIndexRoutingAround(repo, { signal: ctx.signal });
      warnDamagedIndex(ctx, chosen.spec.name, routed);
      const index = routed.index;
      const snapshots = (await loadSnapshots(repo, { onDamaged: warnDamagedSnapshot(ctx, chosen.spec.name), signal: ctx.signal })).filter((s) => s.policy === policy.name);
      const close = async () => {
        await lock.release().catch(() => undefined);
        await closeAll(opened);
      };
      return { policy, target: chosen.spec.name, reader: new BlobReader(repo, index), snapshots, opened, close };
    } catch (err) {
      await lock.release().catch(() => undefined);
      throw err;
    }
  } catch (err) {
    await closeAll(opened);
    throw err;
  }
}

export function pickSnapshot(s: ReadSession, ref: string): Snapshot {
  return resolveSnapshot(s.snapshots, ref, `target '${s.target}'`, { host: hostName(s.policy) });
}
