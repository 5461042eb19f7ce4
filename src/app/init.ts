import { TriadError } from '../core/errors.js';
import { openStorage } from '../backends/open.js';
import type { Storage } from '../backends/storage.js';
import { Repository } from '../repo/repository.js';
import { catalogFor, errorMessage, hostName, kdfStrength, loadPolicyFile, passphraseFor, selectTargets, storageOptions, userName, warnWeakKeys, type AppContext } from './session.js';

export interface InitTargetResult {
  target: string;
  location: string;
  status: 'created' | 'replicated' | 'existing' | 'failed';
  error?: string;
  errorCode?: string;
}

export interface InitResult {
  policy: string;
  repositoryId?: string;
  targets: InitTargetResult[];
}

/**
 * Creates the repository on every target, or completes a partial set: an existing replica
 * opened with the passphrase is the source of the config and keys copied to the others.
 */
export async function initRepositories(ctx: AppContext, opts: { policyFile: string; targets?: string[] }): Promise<InitResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const specs = selectTargets(policy, opts.targets);
  const storages: { name: string; storage: Storage }[] = [];
  const results: InitTargetResult[] = [];
  try {
    for (const spec of specs) storages.push({ name: spec.name, storage: await openStorage(spec, { ...storageOptions(ctx, spec), create: true }) });
    let source: Repository | undefined;
    const existing: Repository[] = [];
    for (const { name, storage } of storages) {
      if (!(await Repository.exists(storage))) continue;
      // A wrong passphrase or a damaged config on an existing target stops init: guessing would split the replicas.
      const repo = await Repository.open(name, storage, passphrase);
      if (source && repo.id !== source.id) {
        throw new TriadError('E_REPO_MISMATCH', `target '${name}' already holds another repository (id ${repo.id.slice(0, 8)}) than target '${source.target}' (id ${source.id.slice(0, 8)})`, {
          hint: 'point the target at an empty location, or remove the foreign repository there',
        });
      }
      source ??= repo;
      existing.push(repo);
    }
    warnWeakKeys(ctx, policy, existing);
    for (const { name, storage } of storages) {
      if (existing.some((r) => r.target === name)) {
        results.push({ target: name, location: storage.location, status: 'existing' });
        continue;
      }
      try {
        if (!source) {
          source = await Repository.create(name, storage, passphrase, { clock: ctx.clock, host: hostName(policy), username: userName(), kdf: kdfStrength(ctx).cost });
          results.push({ target: name, location: storage.location, status: 'created' });
        } else {
          await Repository.replicate(name, storage, source);
          results.push({ target: name, location: storage.location, status: 'replicated' });
        }
      } catch (err) {
        results.push({ target: name, location: storage.location, status: 'failed', error: errorMessage(err), errorCode: err instanceof TriadError ? err.code : undefined });
      }
    }
    const catalog = catalogFor(ctx, policy);
    try {
      for (const spec of specs) {
        const st = storages.find((s) => s.name === spec.name)!.storage;
        catalog.upsertTarget({ policy: policy.name, name: spec.name, type: spec.type, location: st.location, media: spec.media, offsite: spec.offsite, immutable: spec.immutable, offline: (spec as { offline?: boolean }).offline ?? false });
      }
    } finally {
      catalog.close();
    }
    return { policy: policy.name, repositoryId: source?.id, targets: results };
  } finally {
    await Promise.all(storages.map((s) => s.storage.close().catch(() => undefined)));
  }
}
