import type { Policy } from '../policy/types.js';
import { acquireLock } from '../repo/lock/index.js';
import { lockOptions } from './locking.js';
import { BlobReader, findNode } from '../repo/read/index.js';
import { parseDisplayPath } from '../core/names.js';
import { loadIndexRoutingAround } from '../repo/index/index.js';
import { TriadError } from '../core/errors.js';
import { loadSnapshots, resolveSnapshot, snapshotPathOf, type Snapshot } from '../repo/model/index.js';
import { closeAll, partialReads, selectedHost, type HostSelection, loadPolicyFile, openTargets, passphraseFor, requireSome, selectTargets, warnDamagedIndex, warnDamagedSnapshot, type AppContext, type OpenedTarget } from './session.js';

/** One replica opened for reading: the named target, else the first one that opens. */
export interface ReadSession {
  policy: Policy;
  target: string;
  reader: BlobReader;
  snapshots: Snapshot[];
  /** The host whose `latest` the session picks; undefined: every host's. */
  host: string | undefined;
  opened: OpenedTarget[];
  close(): Promise<void>;
}

export async function openForRead(ctx: AppContext, policyFile: string, target?: string, command = 'restore', hosts?: HostSelection): Promise<ReadSession> {
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
      return { policy, target: chosen.spec.name, reader: new BlobReader(repo, index, partialReads(ctx)), snapshots, host: selectedHost(policy, hosts), opened, close };
    } catch (err) {
      await lock.release().catch(() => undefined);
      throw err;
    }
  } catch (err) {
    await closeAll(opened);
    throw err;
  }
}

/** `latest` (of the session's host, or of every host) or an id prefix (any host's: an id names one snapshot). */
export function pickSnapshot(s: ReadSession, ref: string): Snapshot {
  return resolveSnapshot(s.snapshots, ref, `target '${s.target}'`, s.host === undefined ? {} : { host: s.host });
}

/**
 * A path as the snapshot names it. An absolute path is read as the user knows it on the
 * machine (`/srv/etc/ssh`, inside the source `/srv/etc`) and mapped to the snapshot's name
 * for it (`etc/ssh`); a relative one is taken as a snapshot path already.
 */
export function pathInSnapshot(snap: Snapshot, path: string): string {
  if (!path.startsWith('/')) return path;
  const mapped = snapshotPathOf(path, snap.paths);
  if (mapped !== undefined) return mapped;
  throw new TriadError('E_USAGE', `${path} is not inside any source of snapshot ${snap.id.slice(0, 8)} (its sources: ${snap.paths.join(', ')})`, {
    hint: `give a path inside one of those sources, or a snapshot path as 'triad ls -p POLICY ${snap.id.slice(0, 8)}' shows it`,
  });
}

/**
 * The entry at a snapshot path as the user gave it: as written, else as `ls` shows it
 * escaped (`src/f\xff` for a name that is not UTF-8, `\\` for a backslash).
 */
export async function findShownPath(reader: BlobReader, tree: string, path: string): ReturnType<typeof findNode> {
  const found = await findNode(reader, tree, path);
  if (found || !path.includes('\\')) return found;
  return findNode(reader, tree, parseDisplayPath(path));
}

/** --include / --exclude patterns with absolute ones mapped like pathInSnapshot (`/srv/etc/**\/*.conf` → `etc/**\/*.conf`). */
export function patternsInSnapshot(snap: Snapshot, patterns: readonly string[] | undefined): string[] | undefined {
  return patterns?.map((p) => pathInSnapshot(snap, p));
}
