import { hostname, homedir, userInfo } from 'node:os';
import { asError, isTriadError, TriadError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { Emit } from '../core/events.js';
import type { Storage } from '../backends/storage.js';
import { openStorage } from '../backends/open.js';
import { loadPolicy } from '../policy/load.js';
import { resolvePassphraseWithWarnings } from '../policy/secrets.js';
import type { Policy, TargetSpec } from '../policy/types.js';
import { openCatalog, type Catalog } from '../catalog/catalog.js';
import { defaultCatalogPath } from '../catalog/paths.js';
import { Repository } from '../repo/repository.js';
import { describeKdf, kdfBelowFloor, PRODUCTION_KDF_STRENGTH, type KdfStrength } from '../repo/crypto/index.js';
import type { DamagedSnapshot } from '../repo/model/index.js';
import type { RoutedIndex } from '../repo/index/index.js';
import { DEFAULT_RANGE_TUNING, type ReadMode } from '../repo/read/index.js';

export type { KdfStrength };

/** What every use case gets from the CLI: explicit environment, clock and cancellation. */
export interface AppContext {
  env: Record<string, string | undefined>;
  cwd: string;
  clock: Clock;
  signal?: AbortSignal;
  /** Where the use case reports warnings, notices and progress (typed events; the CLI renders them). */
  emit?: Emit;
  /** --catalog, overriding the policy's and $TRIAD_CATALOG. */
  catalogPath?: string;
  /** scrypt cost of new key files and the floor below which an opened key is warned about (production's when unset; a test entry lowers both). */
  kdf?: KdfStrength;
  /** How long a repository lock lives without a refresh (the lock module's default when unset; a test entry shortens it). */
  lockStaleAfterMs?: number;
  /** How long a target may keep failing transiently before it is given up (--retry-for). */
  retryForMs?: number;
  /** Upload limit for every target in bytes/s (--limit-upload), overriding the policy. */
  uploadLimit?: number;
  /** Wraps each opened target's backend, inside retry (a test entry's fault injection; unset in production). */
  wrapStorage?: (storage: Storage, target: string) => Storage;
  /** Jobs whose job lock this process already holds (runReportedJob takes it before the hooks). */
  heldJobLocks?: readonly string[];
  /** Range requests in flight per target for commands that read parts of packs (--read-concurrency). */
  readConcurrency?: number;
  /** Thread counts a sysadmin may tune (TRIAD_BACKUP_WORKERS, TRIAD_RESTORE_WRITERS, read by the CLI). */
  threads?: { backupWorkers?: number; restoreWriters?: number };
}

/** The storage options every use case passes to openStorage. */
export function storageOptions(ctx: AppContext, spec: TargetSpec): Parameters<typeof openStorage>[1] {
  return {
    env: ctx.env,
    cwd: ctx.cwd,
    clock: ctx.clock,
    uploadLimit: ctx.uploadLimit,
    ...(ctx.wrapStorage ? { wrap: (storage: Storage) => ctx.wrapStorage!(storage, spec.name) } : {}),
    retry: {
      ...(ctx.retryForMs !== undefined ? { maxElapsedMs: ctx.retryForMs } : {}),
      onRetry: (op, name, err, delayMs) => ctx.emit?.({ type: 'storage-retry', target: spec.name, op, object: name, errorKind: err.kind, delayMs }),
    },
  };
}

/** How a command that reads parts of packs fetches them: planned byte ranges, --read-concurrency in flight. */
export function partialReads(ctx: AppContext): ReadMode {
  return { ranges: { ...DEFAULT_RANGE_TUNING, ...(ctx.readConcurrency !== undefined ? { concurrency: ctx.readConcurrency } : {}) } };
}

export interface OpenedTarget {
  spec: TargetSpec;
  storage?: Storage;
  repo?: Repository;
  error?: unknown;
}

export function hostName(policy: Policy): string {
  return policy.host ?? hostname();
}

/**
 * Whose snapshots a command sees in a repository that several hosts share: one host (`host`,
 * default this one: the policy's `host`, else the machine's name) or every host (`allHosts`).
 */
export interface HostSelection {
  host?: string;
  allHosts?: boolean;
}

/** The one host selected, or undefined for every host. */
export function selectedHost(policy: Policy, sel: HostSelection = {}): string | undefined {
  return sel.allHosts ? undefined : (sel.host ?? hostName(policy));
}

export function userName(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

export async function loadPolicyFile(ctx: AppContext, file: string): Promise<Policy> {
  return loadPolicy(file, { env: ctx.env });
}

export async function passphraseFor(ctx: AppContext, policy: Policy): Promise<string> {
  if (!policy.encryption) {
    throw new TriadError('E_POLICY_INVALID', `policy ${policy.name} has no encryption section`, { hint: 'add encryption.passphrase_env (or _file / _command)' });
  }
  const r = await resolvePassphraseWithWarnings(policy.encryption.passphrase, { env: ctx.env, cwd: ctx.cwd, signal: ctx.signal });
  for (const w of r.warnings) ctx.emit?.(w);
  return r.passphrase;
}

/** The targets the user named (all when none), with an error naming unknown ones. */
export function selectTargets(policy: Policy, names: string[] | undefined): TargetSpec[] {
  if (!names || names.length === 0) return policy.targets;
  return names.map((n) => {
    const t = policy.targets.find((x) => x.name === n);
    if (!t) {
      throw new TriadError('E_USAGE', `policy ${policy.name} has no target '${n}'`, { hint: `its targets are: ${policy.targets.map((x) => x.name).join(', ')}` });
    }
    return t;
  });
}

/** --catalog, else the policy's `catalog`, else $TRIAD_CATALOG or the user's state dir. */
export function catalogPathFor(ctx: AppContext, policy?: Policy): string {
  return ctx.catalogPath ?? policy?.catalog ?? defaultCatalogPath(ctx.env, homedir(), process.getuid?.());
}

export function catalogFor(ctx: AppContext, policy: Policy): Catalog {
  return openCatalog(catalogPathFor(ctx, policy));
}

/**
 * Opens each target's replica. A target that cannot be opened is returned with its error,
 * so one unreachable copy does not stop the others.
 */
export async function openTargets(ctx: AppContext, policy: Policy, specs: TargetSpec[], passphrase: string): Promise<OpenedTarget[]> {
  const opened = await Promise.all(
    specs.map(async (spec): Promise<OpenedTarget> => {
      try {
        const storage = await openStorage(spec, storageOptions(ctx, spec));
        try {
          const repo = await Repository.open(spec.name, storage, passphrase);
          if (repo.damagedKeys.length > 0) ctx.emit?.({ type: 'damaged-keys-skipped', target: spec.name, keys: repo.damagedKeys.map((k) => ({ id: k.id, reason: k.reason })) });
          return { spec, storage, repo };
        } catch (err) {
          return { spec, storage, error: err };
        }
      } catch (err) {
        return { spec, error: err };
      }
    }),
  );
  warnWeakKeys(ctx, policy, opened.flatMap((o) => (o.repo ? [o.repo] : [])));
  const ids = new Set(opened.filter((o) => o.repo).map((o) => o.repo!.id));
  if (ids.size > 1) {
    const first = opened.find((o) => o.repo)!;
    for (const o of opened) {
      if (o.repo && o.repo.id !== first.repo!.id) {
        o.error = new TriadError('E_REPO_MISMATCH', `target '${o.spec.name}' holds another repository (id ${o.repo.id.slice(0, 8)}) than target '${first.spec.name}' (id ${first.repo!.id.slice(0, 8)})`, {
          hint: 'every target of a policy must be a replica of one repository; point the target at an empty location and run triad init',
        });
        o.repo = undefined;
      }
    }
  }
  return opened;
}

export function kdfStrength(ctx: AppContext): KdfStrength {
  return ctx.kdf ?? PRODUCTION_KDF_STRENGTH;
}

/**
 * One warning per key file the passphrase opened whose scrypt cost is below the floor (a
 * repository made by an early or test build): cheap to guess offline, so every command that
 * opens it says so until `key passwd` rewrites it. Names the targets and the key, never the secret.
 */
export function warnWeakKeys(ctx: AppContext, policy: Pick<Policy, 'file'> | undefined, repos: readonly Repository[]): void {
  const { floor } = kdfStrength(ctx);
  const weak = new Map<string, { kdf: string; targets: string[] }>();
  for (const r of repos) {
    if (!r.openedKey || !kdfBelowFloor(r.openedKey.kdf, floor)) continue;
    const entry = weak.get(r.openedKey.id) ?? { kdf: describeKdf(r.openedKey.kdf), targets: [] };
    entry.targets.push(r.target);
    weak.set(r.openedKey.id, entry);
  }
  for (const [id, w] of weak) {
    ctx.emit?.({ type: 'weak-key', targets: w.targets, key: id, kdf: w.kdf, floor: describeKdf(floor), ...(policy ? { policyFile: policy.file } : {}) });
  }
}

/** Throws the most telling error when no target could be opened at all. */
export function requireSome(opened: OpenedTarget[]): OpenedTarget[] {
  const ok = opened.filter((o) => o.repo);
  if (ok.length > 0) return ok;
  const errs = opened.map((o) => o.error);
  const pick = (code: string): TriadError | undefined => errs.find((e): e is TriadError => e instanceof TriadError && e.code === code);
  const first = errs.find((e) => e !== undefined);
  throw pick('E_WRONG_PASSPHRASE') ?? pick('E_REPO_NOT_FOUND') ?? (first === undefined ? new TriadError('E_USAGE', 'the policy has no targets') : asError(first));
}

export async function closeAll(opened: OpenedTarget[]): Promise<void> {
  await Promise.all(opened.flatMap((o) => (o.storage ? [o.storage.close().catch(() => undefined)] : [])));
}

/** Whether a target failed because an object of its repository is damaged (key files, config…): damage found, not an unreachable target. */
export function isDamageError(err: unknown): boolean {
  return isTriadError(err, 'E_INTEGRITY');
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** loadSnapshots' onDamaged for commands that go on without the damaged snapshot: a warning naming it. */
export function warnDamagedSnapshot(ctx: AppContext, target: string): (d: DamagedSnapshot) => void {
  return (d) => ctx.emit?.({ type: 'snapshot-left-out', target, snapshot: d.name, reason: d.reason });
}

/** Warnings for the damaged index files a reading command routed around, naming each and the repair. */
export function warnDamagedIndex(ctx: AppContext, target: string, routed: RoutedIndex): void {
  for (const d of routed.damaged) ctx.emit?.({ type: 'index-damaged-routed', target, reason: d.reason, packsFromHeaders: routed.packsFromHeaders });
}
