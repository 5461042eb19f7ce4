/**
 * The zod schema of a version-1 policy file as written (DESIGN.md §2b). Objects are strict
 * so a typo such as `retension` is an error, never silently ignored. Unit fields parse to
 * numbers here (durations ms, sizes bytes); cross-field rules, path resolution and the
 * final `Policy` shape live in load.ts.
 */
import * as z from 'zod';
import { createRequire } from 'node:module';
import type * as NodeCron from 'node-cron';
import { DAY, MINUTE } from './time-constants.js';
import {
  UnitError,
  parseDuration,
  parsePercent,
  parseRate,
  parseSize,
  DURATION_EXPECTED,
  SIZE_EXPECTED,
  PERCENT_EXPECTED,
  RATE_EXPECTED,
} from './units.js';

export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const TARGET_TYPES = ['local', 's3', 'azure', 'gcs'] as const;
export const RULES = ['3-2-1', '3-2-1-1-0', 'none'] as const;
/** The jobs that run hooks and send notifications. */
export const JOBS = ['backup', 'restore-test', 'check', 'prune', 'forget', 'copy', 'catalog-rebuild'] as const;
/** What a job can notify: its start, its success, its failure, or that it was skipped (the same job was still running). */
export const NOTIFY_EVENTS = ['start', 'success', 'failure', 'skipped'] as const;
/** The medium the production data lives on unless the policy says otherwise (`production.media`). */
export const DEFAULT_PRODUCTION_MEDIA = 'disk';

/** A field holding a number in some unit; the parser's UnitError becomes the issue message. */
function unitField(parse: (v: string | number) => number, expected: string) {
  return z.unknown().transform((v, ctx) => {
    if (typeof v !== 'string' && typeof v !== 'number') {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}`, input: v, params: { expected } });
      return z.NEVER;
    }
    try {
      return parse(v);
    } catch (err) {
      if (!(err instanceof UnitError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message, input: v, params: { expected: err.expected } });
      return z.NEVER;
    }
  });
}

export const durationField = unitField(parseDuration, DURATION_EXPECTED);
export const sizeField = unitField(parseSize, SIZE_EXPECTED);
export const percentField = unitField(parsePercent, PERCENT_EXPECTED);
export const rateField = unitField(parseRate, RATE_EXPECTED);

const nonEmpty = z.string().trim().min(1, { error: 'must not be empty' });

/** The NAME of an environment variable; the value itself must never be written in a policy. */
export const envName = z.string().regex(ENV_NAME_PATTERN, {
  error: 'must be the name of an environment variable (letters, digits and _), not the secret itself',
});

let cron: typeof NodeCron | undefined;
/** node-cron is loaded for the first cron expression met: most policies a command loads have none, and it costs ~40 ms of start-up. */
function validateCron(expr: string): boolean {
  return (cron ??= createRequire(import.meta.url)('node-cron') as typeof NodeCron).validate(expr);
}

const cronExpr = z.string().refine((v) => validateCron(v), {
  error: 'invalid cron expression: expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds, e.g. "0 */4 * * *"',
});

const httpUrl = z.string().refine(
  (v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { error: 'expected an http:// or https:// URL' },
);

const timezone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { error: 'unknown time zone: expected an IANA name such as UTC, Europe/Paris or America/New_York' },
);

/**
 * A date (`2026-01-01`, midnight UTC) or a date-time with its offset
 * (`2026-01-01T08:00:00+01:00`, `…Z`): a time without an offset would depend on the machine.
 */
const isoDate = z.string().trim().refine((v) => /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v) && Number.isFinite(Date.parse(v)), {
  error: 'expected an ISO 8601 date such as 2026-01-01, or a date-time with its offset such as 2026-01-01T08:00:00+01:00',
});

const count = z.int({ error: 'expected a whole number' }).min(0, { error: 'must be 0 or more' });

export const retentionSchema = z.strictObject({
  keep_last: count.optional(),
  keep_hourly: count.optional(),
  keep_daily: count.optional(),
  keep_weekly: count.optional(),
  keep_monthly: count.optional(),
  keep_yearly: count.optional(),
  keep_within: durationField.optional(),
});

const commonTargetShape = {
  media: nonEmpty.optional(),
  offsite: z.boolean().optional(),
  immutable: z.boolean().default(false),
  offline: z.boolean().default(false),
  upload_limit: rateField.optional(),
  retention: retentionSchema.optional(),
};

const prefix = z.string().default('');

export const localTargetSchema = z.strictObject({
  type: z.literal('local'),
  path: nonEmpty,
  ...commonTargetShape,
});

export const s3TargetSchema = z.strictObject({
  type: z.literal('s3'),
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
    error: 'invalid S3 bucket name: 3-63 characters, lower-case letters, digits, dots and hyphens',
  }),
  prefix,
  region: nonEmpty.optional(),
  endpoint: httpUrl.optional(),
  storage_class: nonEmpty.optional(),
  checksums: z.enum(['when_supported', 'when_required']).default('when_supported'),
  force_path_style: z.boolean().optional(),
  credentials_env: z
    .strictObject({ access_key_id: envName, secret_access_key: envName, session_token: envName.optional() })
    .optional(),
  profile: nonEmpty.optional(),
  object_lock: z
    .strictObject({
      mode: z.enum(['GOVERNANCE', 'COMPLIANCE']),
      days: z.int({ error: 'expected a whole number of days' }).min(1, { error: 'must be at least 1' }),
    })
    .optional(),
  ...commonTargetShape,
});

export const azureTargetSchema = z.strictObject({
  type: z.literal('azure'),
  container: z.string().regex(/^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, {
    error: 'invalid Azure container name: 3-63 characters, lower-case letters, digits and single hyphens',
  }),
  prefix,
  account: nonEmpty.optional(),
  endpoint: httpUrl.optional(),
  access_tier: z.enum(['Hot', 'Cool', 'Cold', 'Archive']).optional(),
  connection_string_env: envName.optional(),
  account_key_env: envName.optional(),
  sas_token_env: envName.optional(),
  immutability: z
    .strictObject({
      mode: z.enum(['unlocked', 'locked']),
      days: z.int({ error: 'expected a whole number of days' }).min(1, { error: 'must be at least 1' }),
    })
    .optional(),
  ...commonTargetShape,
});

export const gcsTargetSchema = z.strictObject({
  type: z.literal('gcs'),
  bucket: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/, {
    error: 'invalid GCS bucket name: lower-case letters, digits, dots, hyphens and underscores',
  }),
  prefix,
  project_id: nonEmpty.optional(),
  key_file: nonEmpty.optional(),
  endpoint: httpUrl.optional(),
  storage_class: nonEmpty.optional(),
  ...commonTargetShape,
});

export const targetSchemas = {
  local: localTargetSchema,
  s3: s3TargetSchema,
  azure: azureTargetSchema,
  gcs: gcsTargetSchema,
} as const;

const absolutePath = nonEmpty.refine((p) => p.startsWith('/'), { error: 'must be an absolute path' });

const hookSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { run: v } : v),
  z.strictObject({
    run: nonEmpty,
    timeout: durationField.default(15 * MINUTE),
    output: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(absolutePath)).optional(),
    jobs: z.array(z.enum(JOBS)).min(1, { error: 'name at least one job' }).optional(),
  }),
);
const hookList = z.array(hookSchema).default([]);

/** A name of a file in a directory, such as `.nobackup`: no path. */
const fileName = nonEmpty.refine((n) => !n.includes('/') && n !== '.' && n !== '..', { error: 'expected a file name such as .nobackup, not a path' });

const sourceSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { path: v } : v),
  z.strictObject({
    path: nonEmpty,
    exclude: z.array(nonEmpty).default([]),
    exclude_caches: z.boolean().default(false),
    exclude_if_present: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(fileName)).default([]),
    exclude_larger_than: sizeField.optional(),
    files_from: nonEmpty.optional(),
    cross_filesystems: z.boolean().default(false),
  }),
);

export const SAMPLE_EXPECTED = 'a percentage such as 5%, {files: 200} or {bytes: 2GiB}';

const sampleCount = z.strictObject({
  files: z.int({ error: 'expected a whole number of files' }).min(1, { error: 'must be at least 1' }),
});
const sampleBytes = z.strictObject({ bytes: sizeField });

/**
 * `5%`, `{files: 200}` or `{bytes: 2GiB}`. Dispatched by shape rather than a zod union,
 * so an error says what is wrong with the form the user chose (e.g. "150% is out of range").
 */
export const sampleSchema = z.unknown().transform((v, ctx): number | { files: number } | { bytes: number } => {
  const forward = (r: z.ZodSafeParseResult<unknown>): void => {
    if (!r.success) for (const i of r.error.issues) ctx.addIssue({ ...i, input: (i as { input?: unknown }).input } as Parameters<typeof ctx.addIssue>[0]);
  };
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const r = 'bytes' in v ? sampleBytes.safeParse(v, { reportInput: true }) : sampleCount.safeParse(v, { reportInput: true });
    if (r.success) return r.data;
    forward(r);
    return z.NEVER;
  }
  const r = percentField.safeParse(v, { reportInput: true });
  if (r.success) return r.data;
  ctx.addIssue({
    code: 'custom',
    message: r.error.issues[0]?.message ?? `expected ${SAMPLE_EXPECTED}`,
    input: v,
    params: { expected: SAMPLE_EXPECTED },
  });
  return z.NEVER;
});

/** The root. `targets` is a map whose entries load.ts validates with the schema of their `type`. */
export const policySchema = z.strictObject({
  version: z.literal(1, { error: 'unsupported policy version: this triad reads version 1' }),
  policy: z.string().regex(NAME_PATTERN, {
    error: 'invalid policy name: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit',
  }),
  description: z.string().optional(),
  catalog: nonEmpty.optional(),
  host: nonEmpty.optional(),
  timezone: timezone.default('UTC'),
  sources: z.array(sourceSchema).min(1, { error: 'at least one source is required' }),
  encryption: z
    .strictObject({
      passphrase_env: envName.optional(),
      passphrase_file: nonEmpty.optional(),
      passphrase_command: nonEmpty.optional(),
      passphrase_command_timeout: durationField.optional(),
    })
    .optional(),
  targets: z.record(z.string(), z.unknown()),
  rule: z.enum(RULES).default('3-2-1'),
  production: z.strictObject({ media: nonEmpty.default(DEFAULT_PRODUCTION_MEDIA) }).default({ media: DEFAULT_PRODUCTION_MEDIA }),
  objectives: z
    .strictObject({
      rpo: durationField.optional(),
      rto: durationField.optional(),
      window: durationField.default(30 * DAY),
      since: isoDate.optional(),
      warn_at: percentField.optional(),
    })
    .default({ window: 30 * DAY }),
  schedule: z
    .strictObject({
      backup: cronExpr.optional(),
      restore_test: cronExpr.optional(),
      prune: cronExpr.optional(),
      check: cronExpr.optional(),
    })
    .default({}),
  retention: retentionSchema.default({}),
  restore_test: z
    .strictObject({
      sample: sampleSchema.optional(),
      files: z.int({ error: 'expected a whole number of files' }).min(1, { error: 'must be at least 1' }).optional(),
      bytes: sizeField.optional(),
      every: durationField.default(30 * DAY),
      max_bytes: sizeField.optional(),
    })
    .default({ every: 30 * DAY }),
  hooks: z
    .strictObject({
      before: hookList,
      after: hookList,
      on_failure: hookList,
      // Directories the hooks write (a dump's directory): scheduled systemd units may write only these,
      // the catalogue's directory and local targets.
      writable_paths: z.array(absolutePath).optional(),
    })
    .default({ before: [], after: [], on_failure: [] }),
  keys: z.strictObject({ prove_every: durationField.optional() }).default({}),
  // The period in which `check --read-data-subset auto`, run daily, reads every stored byte once.
  verify: z
    .strictObject({ every: durationField.refine((ms) => ms >= DAY, { error: 'must be at least 1d: the rolling check runs once a day' }).default(30 * DAY) })
    .default({ every: 30 * DAY }),
  coverage: z
    .strictObject({
      roots: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(absolutePath).min(1, { error: 'name at least one directory to look for unprotected data in, e.g. [/srv, /home]' })),
      ignore: z.array(nonEmpty).default([]),
      max_depth: z.int({ error: 'expected a whole number of directory levels' }).min(1, { error: 'must be at least 1' }).optional(),
      cross_filesystems: z.boolean().default(false),
    })
    .optional(),
  notify: z
    .strictObject({
      webhook: httpUrl.optional(),
      heartbeat: httpUrl.optional(),
      events: z.partialRecord(z.enum(JOBS), z.array(z.enum(NOTIFY_EVENTS))).optional(),
    })
    .default({}),
  compression: z.enum(['auto', 'off', 'max']).default('auto'),
});

export type WrittenPolicy = z.output<typeof policySchema>;
export type WrittenTarget = z.output<(typeof targetSchemas)[keyof typeof targetSchemas]>;

/**
 * The keys an object schema accepts at `path` below `schema` (through optional, default,
 * preprocess, array, record and union wrappers), or undefined when no object is there.
 * Used for "did you mean" suggestions on unknown keys.
 */
export function knownKeysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] | undefined {
  let node: z.ZodType | undefined = schema;
  for (let i = 0; i <= path.length && node; ) {
    const def: Record<string, unknown> & { type: string } = (node as unknown as { def: Record<string, unknown> & { type: string } }).def;
    switch (def.type) {
      case 'optional':
      case 'default':
      case 'nullable':
        node = def.innerType as z.ZodType;
        continue;
      case 'pipe':
        node = ((def.out as { def: { type: string } }).def.type === 'transform' ? def.in : def.out) as z.ZodType;
        continue;
      case 'union': {
        const options = def.options as z.ZodType[];
        const rest = path.slice(i);
        const found = options.map((o) => knownKeysAt(o, rest)).filter((k): k is string[] => k !== undefined);
        return found.length ? [...new Set(found.flat())] : undefined;
      }
      default:
        break;
    }
    if (i === path.length) return def.type === 'object' ? Object.keys(def.shape as object) : undefined;
    const seg = path[i++]!;
    if (def.type === 'object') node = (def.shape as Record<string, z.ZodType>)[String(seg)];
    else if (def.type === 'array') node = def.element as z.ZodType;
    else if (def.type === 'record') node = def.valueType as z.ZodType;
    else return undefined;
  }
  return undefined;
}
