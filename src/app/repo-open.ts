import { TriadError } from '../core/errors.js';
import { openStorage } from '../backends/open.js';
import type { Storage } from '../backends/storage.js';
import { resolvePassphraseWithWarnings } from '../policy/secrets.js';
import type { PassphraseSpec, TargetSpec } from '../policy/types.js';
import { Repository } from '../repo/repository.js';
import { targetFromUrl, type RepoUrl } from './repo-url.js';
import { storageOptions, warnWeakKeys, type AppContext } from './session.js';

/** A repository named by URL, without a policy: where it is and how to unlock it. */
export type RepoAccess = RepoUrl & { passphrase?: PassphraseSpec; passphraseValue?: string };

/** The passphrase of `--repo`: given, or read from --passphrase-env / --passphrase-file. */
export async function repoPassphrase(ctx: AppContext, r: RepoAccess): Promise<string> {
  if (r.passphraseValue !== undefined) return r.passphraseValue;
  if (!r.passphrase) {
    throw new TriadError('E_PASSPHRASE_UNAVAILABLE', 'no passphrase for --repo', { hint: 'give --passphrase-env VAR or --passphrase-file FILE (or run on a terminal to be asked)' });
  }
  const res = await resolvePassphraseWithWarnings(r.passphrase, { env: ctx.env, cwd: ctx.cwd, signal: ctx.signal });
  for (const w of res.warnings) ctx.emit?.(w);
  return res.passphrase;
}

export interface OpenedRepo {
  spec: TargetSpec;
  storage: Storage;
  repo: Repository;
}

/** Opens the repository at `r.url` with its passphrase; the caller closes `storage`. */
export async function openRepoUrl(ctx: AppContext, r: RepoAccess): Promise<OpenedRepo> {
  const spec = targetFromUrl(r, { env: ctx.env, cwd: ctx.cwd });
  const passphrase = await repoPassphrase(ctx, r);
  const storage = await openStorage(spec, storageOptions(ctx, spec));
  try {
    const repo = await Repository.open(spec.name, storage, passphrase);
    warnWeakKeys(ctx, undefined, [repo]);
    return { spec, storage, repo };
  } catch (err) {
    await storage.close().catch(() => undefined);
    throw err;
  }
}
