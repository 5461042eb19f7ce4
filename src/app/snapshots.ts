import * as nodePath from 'node:path';
import { TriadError } from '../core/errors.js';
import { ID_RE } from '../repo/format.js';
import { loadSnapshots, type Snapshot } from '../repo/model/index.js';
import { closeAll, errorMessage, loadPolicyFile, openTargets, passphraseFor, selectTargets, selectedHost, warnDamagedSnapshot, type AppContext, type HostSelection } from './session.js';

export interface SnapshotListing {
  policy: string;
  /** The host whose snapshots are listed; null with --all-hosts. */
  host: string | null;
  /** The policy's timezone: human output shows times in it (JSON stays ISO 8601 UTC). */
  timezone: string;
  snapshots: (Snapshot & { targets: string[] })[];
  targets: { name: string; ok: boolean; error?: string }[];
}

/** Which snapshots a listing shows; every given criterion must hold. */
export interface SnapshotFilter {
  /** Tags the snapshot must all carry. */
  tags?: readonly string[];
  /** A path the snapshot's sources include (as the policy names it; a trailing slash is ignored). */
  path?: string;
}

/** Lists snapshots from the repositories themselves, with the targets each one is complete on. */
export async function listSnapshots(ctx: AppContext, opts: { policyFile: string; target?: string; filter?: SnapshotFilter; hosts?: HostSelection }): Promise<SnapshotListing> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const host = selectedHost(policy, opts.hosts);
  const passphrase = await passphraseFor(ctx, policy);
  const opened = await openTargets(ctx, policy, selectTargets(policy, opts.target ? [opts.target] : undefined), passphrase);
  try {
    const byId = new Map<string, Snapshot & { targets: string[] }>();
    const targets: SnapshotListing['targets'] = [];
    for (const o of opened) {
      if (!o.repo) {
        targets.push({ name: o.spec.name, ok: false, error: errorMessage(o.error) });
        continue;
      }
      try {
        const names: string[] = [];
        for await (const obj of o.repo.storage.list('snapshots/')) names.push(obj.name.slice('snapshots/'.length));
        const missing = names.filter((n) => ID_RE.test(n) && !byId.has(n));
        if (missing.length) for (const s of await loadSnapshots(o.repo, { onDamaged: warnDamagedSnapshot(ctx, o.spec.name), signal: ctx.signal })) if (!byId.has(s.id)) byId.set(s.id, { ...s, targets: [] });
        for (const n of names) byId.get(n)?.targets.push(o.spec.name);
        targets.push({ name: o.spec.name, ok: true });
      } catch (err) {
        targets.push({ name: o.spec.name, ok: false, error: errorMessage(err) });
      }
    }
    if (!targets.some((t) => t.ok)) {
      const first = opened.find((o) => o.error)?.error;
      throw first instanceof TriadError ? first : new TriadError('E_BACKEND', 'no target could be read');
    }
    const snapshots = [...byId.values()]
      .filter((s) => s.policy === policy.name && (host === undefined || s.host === host) && matches(s, opts.filter ?? {}, ctx.cwd))
      .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    return { policy: policy.name, host: host ?? null, timezone: policy.timezone, snapshots, targets };
  } finally {
    await closeAll(opened);
  }
}

function matches(s: Snapshot, f: SnapshotFilter, cwd: string): boolean {
  if (f.tags && !f.tags.every((t) => s.tags.includes(t))) return false;
  if (f.path !== undefined) {
    // Sources are recorded absolute; a relative --path is taken from where the command runs.
    const want = new Set([withoutTrailingSlash(f.path), nodePath.resolve(cwd, f.path)]);
    if (!s.paths.some((p) => want.has(withoutTrailingSlash(p)))) return false;
  }
  return true;
}

function withoutTrailingSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}
