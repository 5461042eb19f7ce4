import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, triad, writePolicy } from '../helpers/triad.js';

/**
 * The verification ledger: every check that reads data and every restore test records, per
 * target, which packs it verified (or found damaged) and when, in the catalogue and in the
 * journal; `check --read-data-subset auto` reads the least recently verified packs so that a
 * daily run covers a copy within verify.every; the report judges the coverage.
 */
const D = 86_400_000;
const T0 = Date.parse('2026-03-01T02:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();
/** Small packs, so that a few hundred KiB make a copy of many packs. */
const PACK_SIZE = String(64 * 1024);

interface LedgerRow {
  pack: string;
  size: number;
  verified_at: string | null;
  sampled_at: string | null;
  failed_at: string | null;
  ledger_run: number | null;
}

/** The ledger of one target as the catalogue holds it, read with SQLite itself. */
function ledger(catalog: string, target: string): LedgerRow[] {
  const db = new Database(catalog, { readonly: true });
  try {
    return db
      .prepare(
        `SELECT hex(p.id) AS pack, p.size, t.verified_at, t.sampled_at, t.failed_at, t.ledger_run FROM pack_targets t
         JOIN packs p ON p.n = t.pack JOIN targets g ON g.id = t.target WHERE g.name = ? ORDER BY p.id`,
      )
      .all(target)
      .map((r) => ({ ...(r as LedgerRow), pack: (r as LedgerRow).pack.toLowerCase() }));
  } finally {
    db.close();
  }
}

function runKind(catalog: string, id: number | null): string | undefined {
  const db = new Database(catalog, { readonly: true });
  try {
    return db.prepare('SELECT kind FROM runs WHERE id = ?').pluck().get(id) as string | undefined;
  } finally {
    db.close();
  }
}

/** Incompressible, reproducible file contents (xorshift), so the pack count does not move between runs. */
function noise(seed: number, bytes: number): Buffer {
  const out = Buffer.alloc(Math.ceil(bytes / 4) * 4);
  let x = seed | 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeInt32LE(x | 0, i);
  }
  return out.subarray(0, bytes);
}

function makeSource(dir: string, files: number): string {
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(src, `f${String(i).padStart(2, '0')}.bin`), noise(i + 1, 40 * 1024));
  return src;
}

interface VerificationJson {
  everyMs: number;
  dueFrom: string | null;
  targets: { target: string; packs: number; storedBytes: number; verifiedBytes: number; verifiedRatio: number | null; neverVerifiedPacks: number; oldestVerifiedAt: string | null; failedPacks: number; sampledPacks: number }[];
}
interface ReportJson {
  schema: string;
  policies: { severity: string; exitCode: number; verification?: VerificationJson; rule: { verificationErrors: number | null; shortfalls: string[] }; findings: { severity: string; code: string; target?: string; message: string; action?: string }[] }[];
}

function report(policy: string, at: number): ReportJson {
  const r = triad(['report', '-p', policy, '--format', 'json'], { env: { ...PASS, TRIAD_TEST_NOW: iso(at) } });
  expect([0, 4], r.stderr).toContain(r.code);
  return JSON.parse(r.stdout) as ReportJson;
}

const coverageOf = (doc: ReportJson, target: string) => doc.policies[0]!.verification!.targets.find((t) => t.target === target)!;

const env = (at: number) => ({ ...PASS, TRIAD_TEST_NOW: iso(at), TRIAD_TEST_PACK_SIZE: PACK_SIZE });

/** A policy with two local targets over `files` noise files, initialised at T0 and backed up a minute later. */
function backedUp(name: string, files: number, o: { rule?: string; offlineUsb?: boolean; extra?: Record<string, unknown> } = {}): { dir: string; policy: string; catalog: string } {
  const dir = scratchDir(`triad-${name}-`);
  const policy = writePolicy(dir, {
    name,
    sources: [makeSource(dir, files)],
    ...(o.rule ? { rule: o.rule } : {}),
    targets: {
      nas: { type: 'local', path: join(dir, 'nas'), media: 'nas', offsite: false },
      usb: { type: 'local', path: join(dir, 'usb'), media: 'removable', offsite: true, ...(o.offlineUsb ? { offline: true } : {}) },
    },
    ...(o.extra ? { extra: o.extra } : {}),
  });
  expect(triad(['init', '-p', policy], { env: env(T0) }).code).toBe(0);
  const b = triad(['backup', '-p', policy], { env: env(T0 + 60_000) });
  expect(b.code, b.stderr).toBe(0);
  return { dir, policy, catalog: join(dir, 'catalog.db') };
}

describe('verification ledger of check and restore-test', () => {
  let dir: string;
  let policy: string;
  let catalog: string;

  beforeAll(() => {
    ({ dir, policy, catalog } = backedUp('ledger', 12, { rule: '3-2-1-1-0', offlineUsb: true }));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('check --read-data records every pack of the target verified at the run time, under the run; the other target stays unverified', () => {
    expect(ledger(catalog, 'nas').every((r) => r.verified_at === null)).toBe(true);
    const at = T0 + 3_600_000;
    const r = triad(['check', '-p', policy, '--target', 'nas', '--read-data'], { env: env(at) });
    expect(r.code, r.stderr).toBe(0);
    const nas = ledger(catalog, 'nas');
    expect(nas.length).toBeGreaterThan(3);
    expect(nas.every((x) => x.verified_at === iso(at) && x.failed_at === null)).toBe(true);
    expect(runKind(catalog, nas[0]!.ledger_run)).toBe('check');
    expect(ledger(catalog, 'usb').every((x) => x.verified_at === null)).toBe(true);

    const doc = report(policy, at + 60_000);
    expect(doc.schema).toBe('triad.report/v3');
    expect(coverageOf(doc, 'nas')).toMatchObject({ verifiedRatio: 1, neverVerifiedPacks: 0, oldestVerifiedAt: iso(at), failedPacks: 0 });
    expect(coverageOf(doc, 'usb')).toMatchObject({ verifiedRatio: 0, neverVerifiedPacks: ledger(catalog, 'usb').length, oldestVerifiedAt: null });
  });

  it('a restore test records the packs it restored blobs of intact, apart: they do not count as verified whole', () => {
    const at = T0 + 2 * 3_600_000;
    const r = triad(['restore-test', '-p', policy, '--files', '3', '--seed', '7'], { env: env(at) });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const target of ['nas', 'usb']) {
      const rows = ledger(catalog, target);
      const sampled = rows.filter((x) => x.sampled_at === iso(at));
      expect(sampled.length, target).toBeGreaterThan(0);
      expect(runKind(catalog, sampled[0]!.ledger_run)).toBe('restore-test');
    }
    expect(ledger(catalog, 'usb').every((x) => x.verified_at === null)).toBe(true);
    const doc = report(policy, at + 60_000);
    expect(coverageOf(doc, 'usb').verifiedRatio).toBe(0);
    expect(coverageOf(doc, 'usb').sampledPacks).toBeGreaterThan(0);
  });

  it('a pack found damaged is recorded failed, not verified: CRITICAL and an error of 3-2-1-1-0 until repaired', () => {
    const at = T0 + 3 * 3_600_000;
    const usbPacks = ledger(catalog, 'usb');
    const victim = usbPacks.find((x) => x.size > 30_000)!;
    const file = join(dir, 'usb', 'data', victim.pack.slice(0, 2), victim.pack);
    expect(existsSync(file)).toBe(true);
    writeFileSync(file, noise(99, victim.size));
    const c = triad(['check', '-p', policy, '--target', 'usb', '--read-data'], { env: env(at) });
    expect(c.code, c.stdout + c.stderr).toBe(4);
    const rows = ledger(catalog, 'usb');
    const failed = rows.filter((x) => x.failed_at !== null);
    expect(failed.map((x) => x.pack)).toEqual([victim.pack]);
    expect(failed[0]!.verified_at).toBeNull();
    expect(rows.filter((x) => x.pack !== victim.pack).every((x) => x.verified_at === iso(at))).toBe(true);

    const doc = report(policy, at + 60_000);
    const f = doc.policies[0]!.findings.find((x) => x.code === 'verification-failed-packs');
    expect(f).toMatchObject({ severity: 'critical', target: 'usb' });
    expect(f!.message).toContain(victim.pack.slice(0, 12));
    expect(f!.action).toContain(`triad repair packs -p ${policy} --target usb`);
    expect(doc.policies[0]!.exitCode).toBe(4);
    expect(doc.policies[0]!.rule.verificationErrors).toBeGreaterThan(0);

    // A later check that reads nothing finds no pack error, and the ledger still remembers the damage.
    const quick = triad(['check', '-p', policy, '--target', 'usb'], { env: env(at + 60_000) });
    expect(quick.code, quick.stdout + quick.stderr).toBe(0);
    const after = report(policy, at + 120_000);
    expect(after.policies[0]!.findings.map((x) => x.code)).toContain('verification-failed-packs');
    expect(after.policies[0]!.rule.verificationErrors).toBe(1);
    expect(after.policies[0]!.rule.shortfalls.join('; ')).toContain('1 error in the latest verification');

    const repair = triad(['repair', 'packs', '-p', policy, '--target', 'usb'], { env: env(at + 180_000) });
    expect(repair.code, repair.stdout + repair.stderr).toBe(0);
    expect(ledger(catalog, 'usb').some((x) => x.failed_at !== null)).toBe(false);
    const recheck = triad(['check', '-p', policy, '--target', 'usb', '--read-data'], { env: env(at + 240_000) });
    expect(recheck.code, recheck.stdout + recheck.stderr).toBe(0);
    const healed = report(policy, at + 300_000);
    expect(healed.policies[0]!.findings.map((x) => x.code)).not.toContain('verification-failed-packs');
    expect(healed.policies[0]!.rule.verificationErrors).toBe(0);
  });

  it('catalog rebuild replays the ledger from the journal: the same times verified, restored and failed', () => {
    const rebuilt = join(dir, 'rebuilt.db');
    for (const target of ['nas', 'usb']) {
      const r = triad(['catalog', 'rebuild', '-p', policy, '--target', target, '--catalog', rebuilt], { env: env(T0 + 5 * 3_600_000) });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/pack verification\(s\) restored from the journal's ledger/);
    }
    const strip = (rows: LedgerRow[]) => rows.map(({ ledger_run: _run, ...rest }) => rest);
    for (const target of ['nas', 'usb']) {
      const before = ledger(catalog, target);
      const after = ledger(rebuilt, target);
      expect(strip(after), target).toEqual(strip(before));
      expect(before.some((x) => x.verified_at !== null), target).toBe(true);
      expect(before.some((x) => x.sampled_at !== null), target).toBe(true);
      for (const row of after.filter((x) => x.ledger_run !== null)) expect(['check', 'restore-test']).toContain(runKind(rebuilt, row.ledger_run));
    }
  });
});

describe('check --read-data-subset auto', () => {
  let dir: string;
  let policy: string;
  let catalog: string;
  const EVERY_DAYS = 5;

  beforeAll(() => {
    ({ dir, policy, catalog } = backedUp('rolling', 30, { extra: { verify: { every: `${EVERY_DAYS}d` } } }));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a verify.every under a day, naming the field', () => {
    const bad = writePolicy(dir, { name: 'bad', sources: [join(dir, 'src')], targets: { nas: { type: 'local', path: join(dir, 'x'), media: 'nas' } }, extra: { verify: { every: '12h' } } });
    const r = triad(['policy', 'check', bad], { env: PASS });
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toMatch(/verify\.every[\s\S]*at least 1d/);
  });

  it('before any check, the report shows 0 % but judges nothing until one period has passed since the first backup', () => {
    const early = report(policy, T0 + 2 * D);
    expect(coverageOf(early, 'nas').verifiedRatio).toBe(0);
    expect(early.policies[0]!.findings.map((f) => f.code)).not.toContain('verification-coverage');
    const late = report(policy, T0 + (EVERY_DAYS + 1) * D);
    const f = late.policies[0]!.findings.find((x) => x.code === 'verification-coverage' && x.target === 'nas');
    expect(f).toMatchObject({ severity: 'warning' });
    expect(f!.message).toContain('0.0 %');
    expect(f!.message).toMatch(/never verified/);
    expect(f!.action).toContain(`triad check -p ${policy} --target nas --read-data-subset auto`);
  });

  it('daily runs read the least recently verified packs, at least stored/days bytes each, and cover the copy within verify.every', () => {
    const start = T0 + (EVERY_DAYS + 1) * D;
    const rows0 = ledger(catalog, 'nas');
    const stored = rows0.reduce((n, r) => n + r.size, 0);
    const quota = Math.ceil(stored / EVERY_DAYS);
    expect(rows0.length).toBeGreaterThan(EVERY_DAYS);
    for (let day = 0; day < EVERY_DAYS; day++) {
      const at = start + day * D;
      const before = ledger(catalog, 'nas');
      const r = triad(['check', '-p', policy, '--target', 'nas', '--read-data-subset', 'auto', '--json'], { env: env(at) });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { targets: { verifiedPacks: string[]; rolling: { quotaBytes: number; bytes: number; packs: number } }[] };
      const t = out.targets[0]!;
      expect(t.rolling.quotaBytes).toBe(quota);
      const chosen = new Set(t.verifiedPacks);
      const chosenRows = before.filter((x) => chosen.has(x.pack));
      const bytes = chosenRows.reduce((n, x) => n + x.size, 0);
      // At least the quota, and not a pack more than needed to reach it.
      expect(bytes).toBeGreaterThanOrEqual(Math.min(quota, stored));
      const largest = Math.max(...chosenRows.map((x) => x.size));
      expect(bytes - largest).toBeLessThan(quota);
      // Least recently verified first: no pack left out was verified longer ago (or never) than one chosen.
      const age = (x: LedgerRow) => (x.verified_at === null ? -Infinity : Date.parse(x.verified_at));
      const newestChosen = Math.max(...chosenRows.map(age));
      for (const x of before.filter((y) => !chosen.has(y.pack))) expect(age(x)).toBeGreaterThanOrEqual(newestChosen);
      const mid = report(policy, at + 60_000);
      if (day < EVERY_DAYS - 1 && coverageOf(mid, 'nas').verifiedRatio! < 1) {
        expect(mid.policies[0]!.findings.some((x) => x.code === 'verification-coverage' && x.target === 'nas')).toBe(true);
      }
    }
    const rows = ledger(catalog, 'nas');
    expect(rows.every((x) => x.verified_at !== null)).toBe(true);
    const end = start + (EVERY_DAYS - 1) * D + 3_600_000;
    const doc = report(policy, end);
    expect(coverageOf(doc, 'nas')).toMatchObject({ verifiedRatio: 1, neverVerifiedPacks: 0 });
    expect(Date.parse(coverageOf(doc, 'nas').oldestVerifiedAt!)).toBeGreaterThanOrEqual(start);
    expect(doc.policies[0]!.findings.filter((x) => x.code === 'verification-coverage').map((x) => x.target)).toEqual(['usb']);

    // The next day the least recently verified packs are due again and are the ones read (ties by pack id).
    const next = triad(['check', '-p', policy, '--target', 'nas', '--read-data-subset', 'auto', '--json'], { env: env(start + EVERY_DAYS * D) });
    const again = (JSON.parse(next.stdout) as { targets: { verifiedPacks: string[] }[] }).targets[0]!.verifiedPacks;
    const due: string[] = [];
    let sum = 0;
    for (const x of [...rows].sort((a, b) => a.verified_at!.localeCompare(b.verified_at!) || a.pack.localeCompare(b.pack))) {
      if (sum >= quota) break;
      due.push(x.pack);
      sum += x.size;
    }
    expect([...again].sort()).toEqual(due.sort());
    expect(rows.find((x) => x.pack === due[0])!.verified_at).toBe(rows.map((x) => x.verified_at!).sort()[0]);
  }, 240_000);

  it('the text output says what the rolling share read and why; the Prometheus output carries the coverage', () => {
    const at = T0 + (2 * EVERY_DAYS + 1) * D + 2 * 3_600_000;
    const r = triad(['check', '-p', policy, '--target', 'usb', '--read-data-subset', 'auto'], { env: env(at) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rolling verification: \d+ packs? least recently verified \([^)]*never verified before\); at least .* a day covers .* within 5d/);
    const prom = triad(['report', '-p', policy, '--format', 'prometheus'], { env: { ...PASS, TRIAD_TEST_NOW: iso(at + 60_000) } });
    expect(prom.code, prom.stderr).toBe(0);
    const families = parsePrometheusTextFormat(prom.stdout);
    const family = (name: string) => families.find((f) => f.name === name);
    const ratio = family('triad_verified_ratio');
    expect(ratio?.type).toBe('GAUGE');
    const nas = ratio!.metrics.find((m) => m.labels?.target === 'nas');
    const usb = ratio!.metrics.find((m) => m.labels?.target === 'usb');
    expect(Number(nas!.value)).toBe(1);
    expect(Number(usb!.value)).toBeGreaterThan(0);
    expect(Number(usb!.value)).toBeLessThan(1);
    expect(Number(family('triad_verify_every_seconds')!.metrics[0]!.value)).toBe(EVERY_DAYS * 86_400);
    expect(Number(family('triad_failed_packs')!.metrics.find((m) => m.labels?.target === 'usb')!.value)).toBe(0);
    expect(family('triad_never_verified_packs')!.metrics.find((m) => m.labels?.target === 'usb')!.value).not.toBe('0');
    expect(readdirSync(join(dir, 'nas', 'journal')).length).toBeGreaterThan(EVERY_DAYS);
  });
});
