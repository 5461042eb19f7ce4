import { TriadError } from '../core/errors.js';
import { AAD, ID_RE } from './format.js';
import type { Repository } from './repository.js';

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
}

export interface Snapshot extends SnapshotManifest {
  id: string;
}

export function sealSnapshot(repo: Repository, manifest: SnapshotManifest): { id: string; sealed: Buffer } {
  const { plaintext, sealed } = repo.sealObject(AAD.snapshot, manifest);
  return { id: repo.manifestId(plaintext), sealed };
}

export async function loadSnapshots(repo: Repository): Promise<Snapshot[]> {
  const out: Snapshot[] = [];
  for await (const o of repo.storage.list('snapshots/')) {
    const id = o.name.slice('snapshots/'.length);
    if (!ID_RE.test(id)) continue;
    const m = await repo.loadManifest<SnapshotManifest>(AAD.snapshot, 'snapshots', id);
    out.push({ ...m, id });
  }
  return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1));
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
