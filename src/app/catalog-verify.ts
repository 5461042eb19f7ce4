import { AAD, ID_RE } from '../repo/format.js';
import type { SnapshotManifest } from '../repo/snapshot.js';
import { catalogFor, closeAll, errorMessage, loadPolicyFile, openTargets, passphraseFor, selectTargets, type AppContext } from './session.js';

export type DriftKind =
  /** On the target, unknown to the catalogue. */
  | 'snapshot-not-in-catalogue'
  /** The catalogue says complete on the target; the target does not hold it. */
  | 'snapshot-not-on-target'
  /** Both know it, but the catalogue does not record it as complete there. */
  | 'presence-wrong'
  /** The catalogue holds fewer file rows than the snapshot has entries. */
  | 'files-incomplete'
  /** In the target's index, not in the catalogue. */
  | 'pack-not-in-catalogue'
  /** In the catalogue, not in the target's index. */
  | 'pack-not-on-target';

export interface Drift {
  kind: DriftKind;
  target: string;
  /** Snapshot or pack id. */
  id: string;
  message: string;
}

export interface VerifyTargetResult {
  name: string;
  ok: boolean;
  error?: string;
  snapshots: number;
  packs: number;
  drift: Drift[];
}

export interface CatalogVerifyResult {
  policy: string;
  catalog: string;
  targets: VerifyTargetResult[];
  drift: number;
  /** 0 when catalogue and targets agree; 1 on drift or an unreadable target. */
  exitCode: number;
}

/** Compares the catalogue with what each target holds; changes nothing. */
export async function verifyCatalog(ctx: AppContext, opts: { policyFile: string; targets?: string[] }): Promise<CatalogVerifyResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const opened = await openTargets(ctx, policy, selectTargets(policy, opts.targets), passphrase);
  const catalog = catalogFor(ctx, policy);
  try {
    const catSnaps = catalog.listSnapshots(policy.name);
    const results: VerifyTargetResult[] = [];
    for (const o of opened) {
      const name = o.spec.name;
      if (!o.repo) {
        results.push({ name, ok: false, error: errorMessage(o.error), snapshots: 0, packs: 0, drift: [] });
        continue;
      }
      const repo = o.repo;
      const drift: Drift[] = [];
      try {
        const onTarget = new Set<string>();
        const known = new Set(catSnaps.map((s) => s.id));
        for await (const obj of repo.storage.list('snapshots/', { signal: ctx.signal })) {
          const id = obj.name.slice('snapshots/'.length);
          if (!ID_RE.test(id)) continue;
          if (!known.has(id)) {
            // Another policy may share the repository: only this policy's snapshots are drift.
            const m = await repo.loadManifest<SnapshotManifest>(AAD.snapshot, 'snapshots', id);
            if (m.policy !== policy.name) continue;
            drift.push({ kind: 'snapshot-not-in-catalogue', target: name, id, message: `snapshot ${id.slice(0, 8)} (${m.time}) is on '${name}' but not in the catalogue` });
          }
          onTarget.add(id);
        }
        for (const s of catSnaps) {
          const p = s.presence.find((x) => x.target === name);
          const there = onTarget.has(s.id);
          if (there && p?.status !== 'complete') {
            drift.push({ kind: 'presence-wrong', target: name, id: s.id, message: `snapshot ${s.id.slice(0, 8)} is on '${name}' but the catalogue records it as ${p?.status ?? 'absent'} there` });
          } else if (!there && p?.status === 'complete') {
            drift.push({ kind: 'snapshot-not-on-target', target: name, id: s.id, message: `snapshot ${s.id.slice(0, 8)} is recorded as complete on '${name}' but the target does not hold it` });
          }
          if (there) {
            const rows = catalog.countFiles(s.id);
            if (rows < s.files + s.dirs) {
              drift.push({ kind: 'files-incomplete', target: name, id: s.id, message: `snapshot ${s.id.slice(0, 8)} has ${rows} file rows in the catalogue, ${s.files + s.dirs} entries in the repository` });
            }
          }
        }
        const indexed = new Set<string>();
        const names: string[] = [];
        for await (const obj of repo.storage.list('index/', { signal: ctx.signal })) names.push(obj.name);
        for (const n of names.sort()) {
          const f = await repo.loadObject<{ packs?: { id: string }[] }>(AAD.index, n);
          for (const p of f.packs ?? []) if (ID_RE.test(p.id)) indexed.add(p.id);
        }
        const inCatalogue = new Set<string>();
        for (const id of catalog.iteratePackIds(policy.name, name)) {
          inCatalogue.add(id);
          if (!indexed.has(id)) drift.push({ kind: 'pack-not-on-target', target: name, id, message: `pack ${id.slice(0, 12)} is in the catalogue for '${name}' but in none of its index files` });
        }
        for (const id of indexed) {
          if (!inCatalogue.has(id)) drift.push({ kind: 'pack-not-in-catalogue', target: name, id, message: `pack ${id.slice(0, 12)} is indexed on '${name}' but has no catalogue row` });
        }
        results.push({ name, ok: true, snapshots: onTarget.size, packs: indexed.size, drift });
      } catch (err) {
        results.push({ name, ok: false, error: errorMessage(err), snapshots: 0, packs: 0, drift });
      }
    }
    const count = results.reduce((n, t) => n + t.drift.length, 0);
    return { policy: policy.name, catalog: catalog.file, targets: results, drift: count, exitCode: count > 0 || results.some((t) => !t.ok) ? 1 : 0 };
  } finally {
    catalog.close();
    await closeAll(opened);
  }
}
