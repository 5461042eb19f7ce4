/** The validated policy as written → the normalised `Policy` the rest of triad uses, defaults filled in. */
import * as nodePath from 'node:path';
import { JOBS, NOTIFY_EVENTS, type WrittenPolicy, type WrittenTarget } from './schema.js';
import type { CoverageSpec, HookSpec, JobName, NotifyEvent, PassphraseSpec, Policy, SampleSpec, SourceSpec, TargetSpec } from './types.js';

export function normalisePolicy(file: string, w: WrittenPolicy, targets: Map<string, WrittenTarget>): Policy {
  const dir = nodePath.dirname(file);
  const abs = (p: string): string => nodePath.resolve(dir, p);
  const rt = w.restore_test;
  let sample: SampleSpec = { kind: 'percent', value: 5 };
  if (rt.files !== undefined) sample = { kind: 'files', value: rt.files };
  else if (rt.bytes !== undefined) sample = { kind: 'bytes', value: rt.bytes };
  else if (typeof rt.sample === 'number') sample = { kind: 'percent', value: rt.sample };
  else if (rt.sample && 'files' in rt.sample) sample = { kind: 'files', value: rt.sample.files };
  else if (rt.sample && 'bytes' in rt.sample) sample = { kind: 'bytes', value: rt.sample.bytes };
  const enc = w.encryption ?? {};
  const passphrase: PassphraseSpec = {};
  if (enc.passphrase_env !== undefined) passphrase.env = enc.passphrase_env;
  if (enc.passphrase_file !== undefined) passphrase.file = abs(enc.passphrase_file);
  if (enc.passphrase_command !== undefined) passphrase.command = enc.passphrase_command;
  if (enc.passphrase_command_timeout !== undefined) passphrase.commandTimeoutMs = enc.passphrase_command_timeout;
  const policy: Policy = {
    version: 1,
    file: file,
    name: w.policy,
    timezone: w.timezone,
    sources: w.sources.map((s) => sourceSpec(s, abs)),
    encryption: { passphrase },
    targets: [...targets].map(([name, t]) => normaliseTarget(name, t, abs)),
    rule: w.rule,
    production: { media: w.production.media.trim().toLowerCase() },
    keys: w.keys.prove_every === undefined ? {} : { prove_every: w.keys.prove_every },
    verify: { every: w.verify.every },
    objectives: { window: w.objectives.window },
    schedule: { ...w.schedule },
    retention: { ...w.retention },
    restore_test: { sample, every: rt.every },
    hooks: {
      before: w.hooks.before.map((h) => hookSpec(h, PREPARING_HOOK_JOBS)),
      after: w.hooks.after.map((h) => hookSpec(h, PREPARING_HOOK_JOBS)),
      on_failure: w.hooks.on_failure.map((h) => hookSpec(h, JOBS)),
      ...(w.hooks.writable_paths !== undefined ? { writable_paths: w.hooks.writable_paths } : {}),
    },
    notify: notifySpec(w.notify),
    compression: w.compression,
  };
  if (w.coverage !== undefined) policy.coverage = coverageSpec(w.coverage);
  if (w.description !== undefined) policy.description = w.description;
  if (w.catalog !== undefined) policy.catalog = abs(w.catalog);
  if (w.host !== undefined) policy.host = w.host;
  if (w.objectives.rpo !== undefined) policy.objectives.rpo = w.objectives.rpo;
  if (w.objectives.rto !== undefined) policy.objectives.rto = w.objectives.rto;
  if (w.objectives.warn_at !== undefined) policy.objectives.warn_at = w.objectives.warn_at;
  if (w.objectives.since !== undefined) policy.objectives.since = new Date(Date.parse(w.objectives.since));
  if (rt.max_bytes !== undefined) policy.restore_test.max_bytes = rt.max_bytes;
  return policy;
}

function sourceSpec(s: WrittenPolicy['sources'][number], abs: (p: string) => string): SourceSpec {
  const spec: SourceSpec = { path: abs(s.path), exclude: s.exclude, exclude_caches: s.exclude_caches, exclude_if_present: s.exclude_if_present, cross_filesystems: s.cross_filesystems };
  if (s.exclude_larger_than !== undefined) spec.exclude_larger_than = s.exclude_larger_than;
  if (s.files_from !== undefined) spec.files_from = abs(s.files_from);
  return spec;
}

export function isOffsite(t: Record<string, unknown>): boolean {
  if (t.offsite !== undefined) return t.offsite === true;
  return (t.type === 's3' || t.type === 'azure' || t.type === 'gcs') && t.endpoint === undefined;
}

/** `finance` → `finance/`, `/a/b/` → `a/b/`, '' stays '': backends join it with object names. */
function normalisePrefix(p: string): string {
  const trimmed = p.replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : trimmed + '/';
}

function normaliseTarget(name: string, t: WrittenTarget, abs: (p: string) => string): TargetSpec {
  const common = {
    name,
    media: (t.media ?? 'object-storage').trim().toLowerCase(),
    offsite: isOffsite(t),
    immutable: t.immutable,
    offline: t.offline,
    upload_limit: t.upload_limit ?? 0,
    ...(t.retention !== undefined ? { retention: { ...t.retention } } : {}),
  };
  switch (t.type) {
    case 'local':
      return { ...common, type: 'local', path: abs(t.path) };
    case 's3': {
      const s3: TargetSpec = {
        ...common,
        type: 's3',
        bucket: t.bucket,
        prefix: normalisePrefix(t.prefix),
        checksums: t.checksums,
        force_path_style: t.force_path_style ?? t.endpoint !== undefined,
      };
      if (t.region !== undefined) s3.region = t.region;
      if (t.endpoint !== undefined) s3.endpoint = t.endpoint;
      if (t.storage_class !== undefined) s3.storage_class = t.storage_class;
      if (t.credentials_env !== undefined) {
        s3.credentials_env = { access_key_id: t.credentials_env.access_key_id, secret_access_key: t.credentials_env.secret_access_key };
        if (t.credentials_env.session_token !== undefined) s3.credentials_env.session_token = t.credentials_env.session_token;
      }
      if (t.profile !== undefined) s3.profile = t.profile;
      if (t.object_lock !== undefined) s3.object_lock = { ...t.object_lock };
      return s3;
    }
    case 'azure': {
      const az: TargetSpec = { ...common, type: 'azure', container: t.container, prefix: normalisePrefix(t.prefix) };
      for (const k of ['account', 'endpoint', 'access_tier', 'connection_string_env', 'account_key_env', 'sas_token_env'] as const) {
        if (t[k] !== undefined) az[k] = t[k];
      }
      if (t.immutability !== undefined) az.immutability = { ...t.immutability };
      return az;
    }
    case 'gcs': {
      const g: TargetSpec = { ...common, type: 'gcs', bucket: t.bucket, prefix: normalisePrefix(t.prefix) };
      if (t.project_id !== undefined) g.project_id = t.project_id;
      if (t.key_file !== undefined) g.key_file = abs(t.key_file);
      if (t.endpoint !== undefined) g.endpoint = t.endpoint;
      if (t.storage_class !== undefined) g.storage_class = t.storage_class;
      return g;
    }
  }
}

/**
 * `before` and `after` hooks prepare and clean up what a backup reads (a database dump, a
 * file-system snapshot), so by default they run around backups only; `on_failure` hooks are
 * alerts and run when any job fails. A hook's `jobs:` overrides either default.
 */
const PREPARING_HOOK_JOBS: readonly JobName[] = ['backup'];

function hookSpec(h: WrittenPolicy['hooks']['before'][number], defaultJobs: readonly JobName[]): HookSpec {
  const spec: HookSpec = { run: h.run, timeout: h.timeout, jobs: [...(h.jobs ?? defaultJobs)] };
  if (h.output !== undefined) spec.output = h.output;
  return spec;
}

function coverageSpec(c: NonNullable<WrittenPolicy['coverage']>): CoverageSpec {
  const roots = [...new Set(c.roots.map((r) => nodePath.resolve(r)))];
  return { roots, ignore: c.ignore, cross_filesystems: c.cross_filesystems, ...(c.max_depth === undefined ? {} : { max_depth: c.max_depth }) };
}

/** Every job notifies every event unless `notify.events` lists what it notifies. */
function notifySpec(n: WrittenPolicy['notify']): Policy['notify'] {
  const events = Object.fromEntries(JOBS.map((j) => [j, [...(n.events?.[j] ?? NOTIFY_EVENTS)]])) as Record<JobName, NotifyEvent[]>;
  return { ...(n.webhook !== undefined ? { webhook: n.webhook } : {}), ...(n.heartbeat !== undefined ? { heartbeat: n.heartbeat } : {}), events };
}
