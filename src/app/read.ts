import type { Policy } from '../policy/types.js';
import { BlobReader } from '../repo/blob-reader.js';
import { MasterIndex } from '../repo/index-store.js';
import { loadSnapshots, resolveSnapshot, type Snapshot } from '../repo/snapshot.js';
import { closeAll, loadPolicyFile, openTargets, passphraseFor, requireSome, selectTargets, type AppContext, type OpenedTarget } from './session.js';

/** One replica opened for reading: the named target, else the first one that opens. */
export interface ReadSession {
  policy: Policy;
  target: string;
  reader: BlobReader;
  snapshots: Snapshot[];
  opened: OpenedTarget[];
  close(): Promise<void>;
}

export async function openForRead(ctx: AppContext, policyFile: string, target?: string): Promise<ReadSession> {
  const policy = await loadPolicyFile(ctx, policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const specs = selectTargets(policy, target ? [target] : undefined);
  // Nearest copy first: on-site targets usually restore fastest.
  const ordered = [...specs].sort((a, b) => Number(a.offsite) - Number(b.offsite));
  const opened = await openTargets(ctx, policy, ordered, passphrase);
  try {
    const chosen = requireSome(opened)[0]!;
    const repo = chosen.repo!;
    const index = await MasterIndex.load(repo);
    const snapshots = (await loadSnapshots(repo)).filter((s) => s.policy === policy.name);
    return { policy, target: chosen.spec.name, reader: new BlobReader(repo, index), snapshots, opened, close: () => closeAll(opened) };
  } catch (err) {
    await closeAll(opened);
    throw err;
  }
}

export function pickSnapshot(s: ReadSession, ref: string): Snapshot {
  return resolveSnapshot(s.snapshots, ref, `target '${s.target}'`);
}
