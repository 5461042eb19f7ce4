import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, triad, writePolicy } from '../helpers/triad.js';

/**
 * Recovery-key proof: `triad key verify` proves that a passphrase kept apart (the safe, an
 * escrow copy) opens every target, records the proof without the passphrase, and the report
 * shows each key's last proof, with a finding past keys.prove_every.
 */
const SAFE = 'the passphrase in the safe, 2026';
const D = 86_400_000;
let dir: string;
let policy: string;
const env = { ...PASS, SAFE_PASS: SAFE };

interface KeyJson {
  key?: string;
  exitCode: number;
  targets: { name: string; ok: boolean; key?: string; wrongPassphrase?: boolean }[];
}
interface ReportJson {
  policies: { keys: { key: string; lastProvedAt: string | null; targets: string[]; overdue: boolean }[]; findings: { code: string; message: string; action?: string }[] }[];
}

function report(at?: string): { code: number; doc: ReportJson } {
  const r = triad(['report', '-p', policy, '--format', 'json', ...(at ? ['--at', at] : [])], { env });
  return { code: r.code, doc: JSON.parse(r.stdout) as ReportJson };
}

beforeAll(() => {
  dir = scratchDir('triad-keyproof-');
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'ledger\n');
  policy = writePolicy(dir, {
    name: 'keys',
    sources: [src],
    targets: {
      nas: { type: 'local', path: join(dir, 'nas'), media: 'nas', offsite: false },
      usb: { type: 'local', path: join(dir, 'usb'), media: 'removable', offsite: true },
    },
    extra: { keys: { prove_every: '180d' } },
  });
  expect(triad(['init', '-p', policy], { env }).code).toBe(0);
  expect(triad(['backup', '-p', policy], { env }).code).toBe(0);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('triad key verify', () => {
  it('before any proof, a policy that asks for one has a finding naming the command', () => {
    const { code, doc } = report();
    expect(code).toBe(4);
    const f = doc.policies[0]!.findings.find((x) => x.code === 'key-never-proven');
    expect(f?.action).toContain(`triad key verify -p ${policy}`);
  });

  it('proves the passphrase in the safe on every target and records it; the report shows the key, no finding; the passphrase is stored nowhere', () => {
    expect(triad(['key', 'add', '-p', policy, '--new-passphrase-env', 'SAFE_PASS'], { env }).code).toBe(0);
    const r = triad(['key', 'verify', '-p', policy, '--passphrase-env', 'SAFE_PASS', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as KeyJson;
    expect(v.targets.map((t) => [t.name, t.ok])).toEqual([
      ['nas', true],
      ['usb', true],
    ]);
    expect(v.key).toMatch(/^[0-9a-f]{64}$/);
    expect(v.targets.every((t) => t.key === v.key)).toBe(true);

    const text = triad(['key', 'verify', '-p', policy, '--passphrase-env', 'SAFE_PASS'], { env });
    expect(text.stdout).toContain(`nas: opens key ${v.key!.slice(0, 16)}`);
    expect(text.stdout).toContain('the passphrase opens every selected target');

    const { code, doc } = report();
    expect(doc.policies[0]!.findings.map((f) => f.code)).not.toContain('key-never-proven');
    expect(code).toBe(0);
    const k = doc.policies[0]!.keys.find((x) => x.key === v.key)!;
    expect(k).toMatchObject({ targets: ['nas', 'usb'], overdue: false });
    expect(Date.now() - Date.parse(k.lastProvedAt!)).toBeLessThan(60_000);
    expect(readFileSync(join(dir, 'catalog.db')).includes(Buffer.from(SAFE))).toBe(false);

    const prom = triad(['report', '-p', policy, '--format', 'prometheus'], { env });
    const families = parsePrometheusTextFormat(prom.stdout) as { name: string; metrics: { labels: Record<string, string>; value: string }[] }[];
    const proven = families.find((f) => f.name === 'triad_key_last_proven_timestamp_seconds')!;
    expect(proven.metrics.find((m) => m.labels.key === v.key!.slice(0, 16))!.labels.policy).toBe('keys');
  });

  it('past keys.prove_every the proof is overdue: a finding, and the markdown and html reports show the key', () => {
    const later = new Date(Date.now() + 181 * D).toISOString();
    const { code, doc } = report(later);
    expect(code).toBe(4);
    expect(doc.policies[0]!.findings.filter((f) => f.code === 'key-proof-overdue').length).toBeGreaterThan(0);
    const md = triad(['report', '-p', policy, '--format', 'markdown', '--at', later], { env });
    expect(md.stdout).toMatch(/### Recovery keys: prove every 180d/);
    const html = triad(['report', '-p', policy, '--format', 'html', '--at', later], { env });
    expect(html.stdout).toContain('<h3>Recovery keys: prove every 180d</h3>');
  });

  it('a wrong passphrase exits 12 and proves nothing; a proof on one target only is not a proof of the key', () => {
    const wrong = triad(['key', 'verify', '-p', policy, '--passphrase-env', 'WRONG'], { env: { ...env, WRONG: 'not it' } });
    expect(wrong.code, wrong.stdout + wrong.stderr).toBe(12);
    expect(triad(['key', 'add', '-p', policy, '--new-passphrase-env', 'ESCROW'], { env: { ...env, ESCROW: 'escrow copy' } }).code).toBe(0);
    const one = triad(['key', 'verify', '-p', policy, '--passphrase-env', 'ESCROW', '--target', 'nas', '--json'], { env: { ...env, ESCROW: 'escrow copy' } });
    expect(one.code).toBe(0);
    const escrow = (JSON.parse(one.stdout) as KeyJson).key!;
    const { doc } = report();
    const k = doc.policies[0]!.keys.find((x) => x.key === escrow)!;
    expect(k).toMatchObject({ lastProvedAt: null, targets: ['nas'], overdue: true });
    expect(doc.policies[0]!.findings.find((f) => f.code === 'key-proof-overdue')!.message).toContain('never proven on every target (only nas)');
  });
});
