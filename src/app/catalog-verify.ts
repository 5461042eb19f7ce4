import { AAD, ID_RE } from '../repo/format.js';
import { loadIndexFile } from '../repo/index/index.js';
import { decodeSnapshotManifest } from '../repo/model/index.js';
import { catalogFor, closeAll, errorMessage, hostName, loadPolicyFile, openTargets, passphraseFor, selectTargets, type AppContext } from './session.js';

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
  /** This host's snapshots of the policy on the target. */
  snapshots: number;
  packs: number;
  drift: Drift[];
  /** Other writers of the repository (`policy@host`), whose snapshots are not compared. */
  sharedWith?: string[];
  /** Indexed packs the catalogue does not know while other writers exist: not drift, they are most likely theirs. */
  unattributedPacks?: number;
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
    const host = hostName(policy);
    const catalogued = catalog.listSnapshots(policy.name);
    // Hosts sharing the policy name and repository each keep their own catalogue: only this host's snapshots are compared.
    const catSnaps = catalogued.filter((s) => s.host === host);
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
        const writerOf = new Map(catalogued.map((s) => [s.id, `${s.policy}@${s.host}`]));
        const otherWriters = new Set<string>();
        for await (const obj of repo.storage.list('snapshots/', { signal: ctx.signal })) {
          const id = obj.name.slice('snapshots/'.length);
          if (!ID_RE.test(id)) continue;
          let writer = writerOf.get(id);
          let time = '';
          if (writer === undefined) {
            const m = await repo.loadManifest(AAD.snapshot, 'snapshots', id, decodeSnapshotManifest);
            writer = `${m.policy}@${m.host}`;
            time = m.time;
          }
          // Another policy or another host may share the repository: only this host's snapshots of this policy are compared.
          if (writer !== `${policy.name}@${host}`) {
            otherWriters.add(writer);
            continue;
          }
          if (!writerOf.has(id)) drift.push({ kind: 'snapshot-not-in-catalogue', target: name, id, message: `snapshot ${id.slice(0, 8)} (${time}) is on '${name}' but not in the catalogue` });
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
          for (const p of (await loadIndexFile(repo, n)).packs) indexed.add(p.id);
        }
        const inCatalogue = new Set<string>();
        for (const id of catalog.iteratePackIds(policy.name, name)) {
          inCatalogue.add(id);
          if (!indexed.has(id)) drift.push({ kind: 'pack-not-on-target', target: name, id, message: `pack ${id.slice(0, 12)} is in the catalogue for '${name}' but in none of its index files` });
        }
        // Packs name no writer: while others write to the repository, an indexed pack this
        // catalogue does not know is most likely theirs, so it is counted, not called drift.
        let unattributedPacks = 0;
        for (const id of indexed) {
          if (inCatalogue.has(id)) continue;
          if (otherWriters.size > 0) unattributedPacks++;
          else drift.push({ kind: 'pack-not-in-catalogue', target: name, id, message: `pack ${id.slice(0, 12)} is indexed on '${name}' but has no catalogue row` });
        }
        const shared = otherWriters.size > 0 ? { sharedWith: [...otherWriters].sort(), unattributedPacks } : {};
        results.push({ name, ok: true, snapshots: onTarget.size, packs: indexed.size, drift, ...shared });
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
