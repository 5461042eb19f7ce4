import { TriadError } from '../../core/errors.js';
import { IntegrityFailure } from '../crypto/index.js';
import { isNotFound } from '../../backends/storage.js';
import { AAD, ID_RE } from '../format.js';
import { isObjectDamage, type Repository } from '../repository.js';

export interface SnapshotSummary {
  files: number;
  dirs: number;
  bytes: number;
  filesNew: number;
  filesChanged: number;
  filesUnchanged: number;
  bytesRead: number;
  /** Bytes of new blobs before/after compression+encryption. */
  dataAdded: number;
  dataAddedPacked: number;
  blobsNew: number;
  warnings: number;
}

/** The encrypted manifest under `snapshots/<id>`; id = keyed hash of this JSON. */
export interface SnapshotManifest {
  version: 1;
  /** Recovery point: when the backup started reading the source (DESIGN.md §4). */
  time: string;
  finished: string;
  policy: string;
  host: string;
  username?: string;
  paths: string[];
  tree: string;
  parent?: string;
  partial: boolean;
  tags: string[];
  summary: SnapshotSummary;
  /**
   * The backup recorded every file's extended attributes, so a later backup may take an
   * unchanged file's (same size, mtime, ctime, inode: setting an attribute changes the ctime)
   * from this snapshot instead of listing them again. Absent in snapshots of older versions.
   */
  xattrs?: true;
}

export interface Snapshot extends SnapshotManifest {
  id: string;
}

export function sealSnapshot(repo: Repository, manifest: SnapshotManifest): { id: string; sealed: Buffer } {
  const { plaintext, sealed } = repo.sealObject(AAD.snapshot, manifest);
  return { id: repo.manifestId(plaintext), sealed };
}

/** A snapshot object that exists but cannot be used: undecryptable, unparseable, or not a regular object. */
export interface DamagedSnapshot {
  /** Object name, `snapshots/<id>`. */
  name: string;
  reason: string;
}

/**
 * Every snapshot of the replica, oldest first. A damaged snapshot object throws unless
 * `onDamaged` is given: then it is reported there and left out, and the others stay usable.
 * Failures of the storage itself (unreachable, access denied) always throw.
 */
export async function loadSnapshots(repo: Repository, opts: { onDamaged?(d: DamagedSnapshot): void; signal?: AbortSignal } = {}): Promise<Snapshot[]> {
  const out: Snapshot[] = [];
  for await (const o of repo.storage.list('snapshots/', { signal: opts.signal })) {
    const id = o.name.slice('snapshots/'.length);
    if (!ID_RE.test(id)) continue;
    let m: SnapshotManifest;
    try {
      m = await repo.loadManifest(AAD.snapshot, 'snapshots', id, decodeSnapshotManifest);
    } catch (err) {
      // Removed between the listing and the load (a concurrent forget): no longer there.
      if (isNotFound(err)) continue;
      if (!opts.onDamaged || !isObjectDamage(err)) throw err;
      opts.onDamaged({ name: o.name, reason: err instanceof Error ? err.message : String(err) });
      continue;
    }
    out.push({ ...m, id });
  }
  return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1));
}

/** The fields every reader relies on, checked; a manifest without them is damage, not a snapshot. */
export function decodeSnapshotManifest(value: unknown): SnapshotManifest {
  const m = value as SnapshotManifest;
  const ok =
    typeof m === 'object' && m !== null && typeof m.time === 'string' && typeof m.tree === 'string' && ID_RE.test(m.tree) && typeof m.policy === 'string' && typeof m.host === 'string' &&
    isStringList(m.paths) && (m.tags === undefined || isStringList(m.tags)) && (m.parent === undefined || typeof m.parent === 'string') && typeof m.summary === 'object' && m.summary !== null;
  if (!ok) throw new IntegrityFailure('the manifest lacks its time, tree, policy, host, paths or summary');
  return m;
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/**
 * `latest`, a full id, or a unique prefix of 8+ hex characters. With `host`, `latest` is that
 * host's newest snapshot: hosts sharing a policy name and a repository each restore their
 * own by default; an id still reaches any host's snapshot.
 */
export function resolveSnapshot(snapshots: Snapshot[], ref: string, where: string, opts: { host?: string } = {}): Snapshot {
  if (ref === 'latest') {
    const mine = opts.host === undefined ? snapshots : snapshots.filter((s) => s.host === opts.host);
    const s = mine[mine.length - 1];
    if (s) return s;
    if (mine.length < snapshots.length) {
      throw new TriadError('E_SNAPSHOT_NOT_FOUND', `no snapshot of host ${opts.host} on ${where}: its ${snapshots.length} snapshot${snapshots.length === 1 ? ' is' : 's are'} from other hosts`, {
        hint: "give the id of one of them (see 'triad snapshots -p POLICY'), or set `host:` in the policy to the host whose backups it restores",
      });
    }
    throw new TriadError('E_SNAPSHOT_NOT_FOUND', `no snapshot on ${where}`, { hint: "run 'triad backup -p POLICY' first" });
  }
  if (!/^[0-9a-f]{8,64}$/.test(ref)) {
    throw new TriadError('E_USAGE', `'${ref}' is not a snapshot id: give 'latest', a full id or a unique prefix of at least 8 hex characters`);
  }
  const hits = snapshots.filter((s) => s.id.startsWith(ref));
  if (hits.length === 1) return hits[0]!;
  if (hits.length === 0) throw new TriadError('E_SNAPSHOT_NOT_FOUND', `no snapshot ${ref} on ${where}`, { hint: "list them with 'triad snapshots -p POLICY'" });
  throw new TriadError('E_USAGE', `snapshot prefix ${ref} is ambiguous: ${hits.map((h) => h.id.slice(0, 16)).join(', ')}`, { hint: 'give more characters' });
}
