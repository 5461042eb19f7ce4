import { ExitCode, TriadError } from '../core/errors.js';
import { kdfBelowFloor, keyFileOpens, keyOpenedBy, listKeyFiles, newKeyFile, removeKeyFile, saveKeyFile, type KeyInfo } from '../repo/crypto/index.js';
import { catalogFor, closeAll, errorMessage, hostName, kdfStrength, loadPolicyFile, openTargets, passphraseFor, selectTargets, userName, type AppContext, type OpenedTarget } from './session.js';
import type { Policy } from '../policy/types.js';
import { writeJournal } from '../repo/model/index.js';

export interface KeyTargetsOptions {
  policyFile: string;
  /** Only these targets (default: every target of the policy). */
  targets?: string[];
}

export interface KeyListResult {
  policy: string;
  /** The policy's timezone: human output shows times in it (JSON stays ISO 8601 UTC). */
  timezone: string;
  /** `wrongPassphrase`: the target was read but the passphrase opens none of its key files (listed all the same). */
  targets: { name: string; location?: string; ok: boolean; wrongPassphrase?: boolean; error?: string; keys: (KeyInfo & { current: boolean })[] }[];
  /** Every readable target holds the same set of key files. */
  consistent: boolean;
  exitCode: number;
}

export interface KeyChangeResult {
  policy: string;
  action: 'add' | 'remove' | 'passwd';
  /** The key file added (add, passwd). */
  added?: string;
  /** The key file removed (remove, passwd). */
  removed?: string;
  targets: { name: string; status: 'added' | 'copied' | 'present' | 'removed' | 'rotated' | 'failed'; error?: string }[];
  /** 0, or 1 when some target failed (run the command again: it completes the others identically). */
  exitCode: number;
}

/** Key files of every target, and which one the policy's passphrase opens. */
export async function listKeys(ctx: AppContext, opts: KeyTargetsOptions): Promise<KeyListResult> {
  const { policy, passphrase, opened } = await openAll(ctx, opts, false);
  try {
    const targets: KeyListResult['targets'] = [];
    for (const o of opened) {
      if (!o.storage || (o.error && !isWrongKey(o.error) && !isKeyDamage(o.error))) {
        targets.push({ name: o.spec.name, location: o.storage?.location, ok: false, error: errorMessage(o.error), keys: [] });
        continue;
      }
      try {
        const current = o.repo ? await keyOpenedBy(o.storage, passphrase, o.spec.name) : undefined;
        const keys = (await listKeyFiles(o.storage, ctx.signal)).map((k) => ({ ...k, current: k.id === current }));
        // The key files are listed either way: they show which passphrases the repository has.
        if (current === undefined) targets.push({ name: o.spec.name, location: o.storage.location, ok: false, wrongPassphrase: isWrongKey(o.error), error: errorMessage(o.error), keys });
        else targets.push({ name: o.spec.name, location: o.storage.location, ok: true, keys });
      } catch (err) {
        targets.push({ name: o.spec.name, location: o.storage.location, ok: false, error: errorMessage(err), keys: [] });
      }
    }
    const sets = targets.filter((t) => t.keys.length > 0).map((t) => t.keys.map((k) => k.id).join(','));
    const consistent = new Set(sets).size <= 1;
    return { policy: policy.name, timezone: policy.timezone, targets, consistent, exitCode: listExitCode(targets, consistent) };
  } finally {
    await closeAll(opened);
  }
}

export interface KeyVerifyResult {
  policy: string;
  at: string;
  /** Per target: the key file the passphrase opens there, or why it opens none. */
  targets: { name: string; ok: boolean; key?: string; wrongPassphrase?: boolean; error?: string }[];
  /** The key the passphrase opened (the same on every replica), when it opened one. */
  key?: string;
  /** 0 proven on every selected target; 12 the passphrase opens no key anywhere; 1 otherwise. */
  exitCode: number;
}

/**
 * Proves that a passphrase (the one in the safe, an escrow copy) opens every target, and
 * records the proof (key id, time, targets; never the passphrase or anything derived from
 * it) in the catalogue and in the journal of each target it opened, so reports can show how
 * long ago each key was last proven.
 */
export async function verifyKey(ctx: AppContext, opts: KeyTargetsOptions & { passphrase: string }): Promise<KeyVerifyResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const startedAt = ctx.clock.now();
  const opened = await openTargets(ctx, policy, selectTargets(policy, opts.targets), opts.passphrase);
  try {
    const targets: KeyVerifyResult['targets'] = [];
    for (const o of opened) {
      const key = o.repo && o.storage ? await keyOpenedBy(o.storage, opts.passphrase, o.spec.name).catch(() => undefined) : undefined;
      if (key !== undefined) targets.push({ name: o.spec.name, ok: true, key });
      else targets.push({ name: o.spec.name, ok: false, ...(isWrongKey(o.error) ? { wrongPassphrase: true } : {}), error: o.error ? errorMessage(o.error) : 'the passphrase opens no key file' });
    }
    const failed = targets.filter((t) => !t.ok);
    const exitCode = failed.length === 0 ? ExitCode.OK : failed.length === targets.length && failed.every((t) => t.wrongPassphrase) ? ExitCode.WRONG_PASSPHRASE : ExitCode.FAILED;
    const keys = [...new Set(targets.flatMap((t) => (t.key ? [t.key] : [])))];
    const finishedAt = ctx.clock.now();
    const status = exitCode === ExitCode.OK ? 'ok' : 'failed';
    const details = { targets: targets.map((t) => ({ target: t.name, ok: t.ok, ...(t.key ? { key: t.key } : {}), ...(t.error ? { error: t.error } : {}) })) };
    await writeJournal(opened.flatMap((o) => (o.repo ? [o.repo] : [])), {
      version: 1, kind: 'key-verify', policy: policy.name, host: hostName(policy), started: startedAt.toISOString(), finished: finishedAt.toISOString(),
      status, exitCode, targets: targets.map((t) => ({ name: t.name, ok: t.ok, ...(t.error ? { error: t.error } : {}) })), details,
    });
    const catalog = catalogFor(ctx, policy);
    try {
      catalog.importRun({ policy: policy.name, kind: 'key-verify', started_at: startedAt, finished_at: finishedAt, status, exit_code: exitCode, details });
    } finally {
      catalog.close();
    }
    return { policy: policy.name, at: finishedAt.toISOString(), targets, ...(keys.length === 1 ? { key: keys[0]! } : {}), exitCode };
  } finally {
    await closeAll(opened);
  }
}

/**
 * Adds a passphrase to every selected target. The same key file bytes go everywhere; when the
 * new passphrase already opens a key file on some target (an earlier run that did not reach
 * every target), that file is copied to the others instead of making a new one.
 */
export async function addKey(ctx: AppContext, opts: KeyTargetsOptions & { newPassphrase: string }): Promise<KeyChangeResult> {
  const { policy, passphrase, opened } = await openAll(ctx, opts, true);
  try {
    if (opts.newPassphrase === passphrase) throw new TriadError('E_USAGE', 'the new passphrase is the one already in use', { hint: 'choose a different passphrase' });
    const r = await addEverywhere(ctx, policy, opened, opts.newPassphrase);
    if (r.targets.every((t) => t.status === 'present')) {
      throw new TriadError('E_USAGE', `the new passphrase already opens key ${r.id.slice(0, 12)} on every target`, { hint: "see 'triad key list -p POLICY'" });
    }
    return { policy: policy.name, action: 'add', added: r.id, targets: r.targets, exitCode: r.targets.some((t) => t.status === 'failed') ? 1 : 0 };
  } finally {
    await closeAll(opened);
  }
}

/**
 * Removes a key file (full id or a unique prefix of 8+ hex characters) from every selected
 * target. Refused, before anything is removed, if it is the last key of any target or the
 * key the policy's passphrase opens (use `passwd` to replace that one).
 */
export async function removeKey(ctx: AppContext, opts: KeyTargetsOptions & { id: string }): Promise<KeyChangeResult> {
  const { policy, passphrase, opened } = await openAll(ctx, opts, true);
  try {
    const lists = await Promise.all(opened.map(async (o) => ({ o, keys: (await listKeyFiles(o.storage!, ctx.signal)).map((k) => k.id) })));
    const id = resolveKeyId(opts.id, [...new Set(lists.flatMap((l) => l.keys))]);
    for (const { o, keys } of lists) {
      if (keys.includes(id) && keys.length <= 1) {
        throw new TriadError('E_USAGE', `refusing to remove key ${id.slice(0, 12)}: it is the last key of target '${o.spec.name}' and the repository could never be opened again`, {
          hint: "add another key first with 'triad key add', or use 'triad key passwd' to change the passphrase",
        });
      }
      if (keys.includes(id) && (await keyOpenedBy(o.storage!, passphrase, o.spec.name)) === id) {
        throw new TriadError('E_USAGE', `refusing to remove key ${id.slice(0, 12)}: it is the key the policy's passphrase opens on target '${o.spec.name}'`, {
          hint: "use 'triad key passwd' to replace it, or run the removal with another passphrase of the repository",
        });
      }
    }
    const targets: KeyChangeResult['targets'] = [];
    for (const { o, keys } of lists) {
      if (!keys.includes(id)) {
        targets.push({ name: o.spec.name, status: 'removed' });
        continue;
      }
      try {
        await removeKeyFile(o.storage!, id, o.spec.name);
        targets.push({ name: o.spec.name, status: 'removed' });
      } catch (err) {
        targets.push({ name: o.spec.name, status: 'failed', error: errorMessage(err) });
      }
    }
    return { policy: policy.name, action: 'remove', removed: id, targets, exitCode: targets.some((t) => t.status === 'failed') ? 1 : 0 };
  } finally {
    await closeAll(opened);
  }
}

/**
 * Changes the passphrase: adds a key for the new one on every selected target, checks that it
 * opens there, then removes the key the current passphrase opened. Data is not re-encrypted.
 * Re-running after a partial failure completes the rotation with the same key file. The same
 * passphrase again is accepted only to rewrite a key whose KDF cost is below the floor.
 */
export async function changePassphrase(ctx: AppContext, opts: KeyTargetsOptions & { newPassphrase: string }): Promise<KeyChangeResult> {
  const { policy, passphrase, opened } = await openAll(ctx, opts, true);
  try {
    const strengthen = opts.newPassphrase === passphrase;
    if (strengthen && !opened.some((o) => o.repo?.openedKey && kdfBelowFloor(o.repo.openedKey.kdf, kdfStrength(ctx).floor))) {
      throw new TriadError('E_USAGE', 'the new passphrase is the one already in use', { hint: 'choose a different passphrase' });
    }
    const old = new Map<string, string>();
    for (const o of opened) old.set(o.spec.name, (await keyOpenedBy(o.storage!, passphrase, o.spec.name))!);
    const added = await addEverywhere(ctx, policy, opened, opts.newPassphrase, { fresh: strengthen });
    const targets: KeyChangeResult['targets'] = [];
    const oldIds = new Set<string>();
    for (const o of opened) {
      const name = o.spec.name;
      const step = added.targets.find((t) => t.name === name)!;
      if (step.status === 'failed') {
        targets.push(step);
        continue;
      }
      try {
        if (!(await keyFileOpens(o.storage!, added.id, opts.newPassphrase))) throw new TriadError('E_INTEGRITY', `the new key ${added.id.slice(0, 12)} does not open on target '${name}'`);
        const oldId = old.get(name)!;
        oldIds.add(oldId);
        await removeKeyFile(o.storage!, oldId, name);
        targets.push({ name, status: 'rotated' });
      } catch (err) {
        targets.push({ name, status: 'failed', error: errorMessage(err) });
      }
    }
    return { policy: policy.name, action: 'passwd', added: added.id, removed: [...oldIds].join(','), targets, exitCode: targets.some((t) => t.status === 'failed') ? 1 : 0 };
  } finally {
    await closeAll(opened);
  }
}

/** `fresh`: write a new key file even where the passphrase already opens one (to rewrite a weak key). */
async function addEverywhere(ctx: AppContext, policy: Policy, opened: OpenedTarget[], newPassphrase: string, opts: { fresh?: boolean } = {}): Promise<{ id: string; targets: KeyChangeResult['targets'] }> {
  let existing: { id: string; bytes: Buffer } | undefined;
  const has = new Set<string>();
  for (const o of opened) {
    if (opts.fresh) break;
    const id = await keyOpenedBy(o.storage!, newPassphrase, o.spec.name);
    if (id === undefined) continue;
    has.add(o.spec.name);
    existing ??= { id, bytes: await o.storage!.load(`keys/${id}`) };
  }
  const key = existing ?? (await newKeyFile(opened[0]!.repo!.key, newPassphrase, { created: ctx.clock.now(), host: hostName(policy), username: userName(), kdf: kdfStrength(ctx).cost }));
  const targets: KeyChangeResult['targets'] = [];
  for (const o of opened) {
    if (has.has(o.spec.name)) {
      targets.push({ name: o.spec.name, status: 'present' });
      continue;
    }
    try {
      await saveKeyFile(o.storage!, key);
      targets.push({ name: o.spec.name, status: existing ? 'copied' : 'added' });
    } catch (err) {
      targets.push({ name: o.spec.name, status: 'failed', error: errorMessage(err) });
    }
  }
  return { id: key.id, targets };
}

/**
 * Opens the selected targets with the policy's passphrase. For changes every one must open:
 * replicas must keep identical key files, so a change is not started on a subset by accident.
 */
async function openAll(ctx: AppContext, opts: KeyTargetsOptions, strict: boolean): Promise<{ policy: Policy; passphrase: string; opened: OpenedTarget[] }> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const opened = await openTargets(ctx, policy, selectTargets(policy, opts.targets), passphrase);
  if (strict) {
    const bad = opened.find((o) => !o.repo);
    if (bad) {
      await closeAll(opened);
      if (bad.error instanceof TriadError && opened.every((o) => !o.repo)) throw bad.error;
      throw new TriadError(bad.error instanceof TriadError ? bad.error.code : 'E_TARGET_FAILED', `target '${bad.spec.name}' cannot be opened, so the key files of the replicas would diverge: ${errorMessage(bad.error)}`, {
        hint: `fix the target, or leave it out with --target and run the same command for it later (the same key file is then copied there)`,
      });
    }
  }
  return { policy, passphrase, opened };
}

/** 12 when the passphrase opens no key on any target that failed that way only, 1 for any other failure or diverging replicas. */
function listExitCode(targets: KeyListResult['targets'], consistent: boolean): number {
  const failed = targets.filter((t) => !t.ok);
  if (failed.length > 0 && failed.every((t) => t.wrongPassphrase)) return ExitCode.WRONG_PASSPHRASE;
  return failed.length > 0 || !consistent ? ExitCode.FAILED : ExitCode.OK;
}

function isWrongKey(err: unknown): boolean {
  return err instanceof TriadError && err.code === 'E_WRONG_PASSPHRASE';
}

/** The error of a replica whose only key files that could open are damaged. */
function isKeyDamage(err: unknown): boolean {
  return err instanceof TriadError && err.details?.damagedKeys !== undefined;
}

function resolveKeyId(ref: string, ids: string[]): string {
  const p = ref.trim().toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(p)) throw new TriadError('E_USAGE', `'${ref}' is not a key id: give the full id or at least 8 of its hex characters`, { hint: "see 'triad key list -p POLICY'" });
  const hits = ids.filter((id) => id.startsWith(p));
  if (hits.length === 0) throw new TriadError('E_USAGE', `no key ${p} on the selected targets`, { hint: "see 'triad key list -p POLICY'" });
  if (hits.length > 1) throw new TriadError('E_USAGE', `key prefix ${p} is ambiguous: ${hits.map((h) => h.slice(0, 16)).join(', ')}`, { hint: 'give more characters' });
  return hits[0]!;
}
