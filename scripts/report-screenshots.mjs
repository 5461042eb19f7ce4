#!/usr/bin/env node
// Regenerates the report screenshots the README shows (docs/report-compliant.png and
// docs/report-breached.png): a fixed 30-day history of a two-copy policy rendered by the same
// code as `triad report --format html`, photographed by headless Chromium (Debian's
// `chromium`). Run after `npm run build`: `node scripts/report-screenshots.mjs`.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const { buildPolicyReport } = await import(join(ROOT, 'dist/compliance/report.js'));
const { renderReportHtml } = await import(join(ROOT, 'dist/cli/render/report.js'));

const H = 3_600_000;
const D = 24 * H;
const AT = new Date('2026-11-30T09:00:00Z');
const ago = (ms) => new Date(AT.getTime() - ms);
const targets = [
  { name: 'nas', media: 'nas', offsite: false, immutable: false, offline: false, local: true },
  { name: 'cloud', media: 'object-storage', offsite: true, immutable: true, offline: false, local: false },
];

/** Backups every 4 hours for 40 days; `cloudStoppedMs`: the cloud copy stopped that long ago. */
function input(cloudStoppedMs) {
  const snapshots = [];
  const runs = [];
  for (let k = 240; k >= 1; k--) {
    const started = k * 4 * H;
    for (const t of ['nas', 'cloud']) {
      const ok = !(t === 'cloud' && started < cloudStoppedMs);
      runs.push({ target: t, startedAt: ago(started), finishedAt: ago(started - 9 * 60_000), ok, ...(ok ? {} : { error: 'cloud: storage unreachable (ETIMEDOUT)' }) });
      if (ok) snapshots.push({ snapshotId: `s${k}`, target: t, recoveryPoint: ago(started), completedAt: ago(started - 9 * 60_000), bytes: 180e9 + (240 - k) * 2e8, partial: false });
    }
  }
  return {
    policy: {
      name: 'finance', file: '/etc/triad/finance.yaml', description: 'Finance file server', rule: '3-2-1', production: { media: 'disk' }, keys: { prove_every: 180 * D },
      objectives: { rpo: 6 * H, rto: 4 * H, window: 30 * D }, restore_test: { every: 30 * D },
    },
    targets,
    snapshots,
    runs,
    restoreTests: [40, 12].flatMap((daysAgo, run) => ['nas', 'cloud'].map((t, i) => ({
      at: ago(daysAgo * D), target: t, runId: run + 1, ok: true, files: 412, bytes: 9.6e9, overheadMs: 45_000, transferMs: (i + 1) * 95_000, durationMs: 45_000 + (i + 1) * 115_000, failures: 0,
    }))),
    verifications: [],
    keyProofs: [{ at: ago(40 * D), targets: [{ target: 'nas', key: 'a3f9c2e17b604d58'.padEnd(64, '0') }, { target: 'cloud', key: 'a3f9c2e17b604d58'.padEnd(64, '0') }] }],
    capacity: [{ target: 'nas', usedBytes: 2.1e12, freeBytes: 1.9e12, storedHistory: Array.from({ length: 30 }, (_, d) => ({ at: ago((30 - d) * D), bytes: 1.2e12 + d * 4e9 })), logicalBytes: 5.4e12 }],
    obligationsStart: ago(40 * D),
    at: AT,
    zone: 'Europe/Paris',
  };
}

function chromium() {
  const found = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim();
  if (!found) throw new Error("Debian's chromium is needed: apt-get install chromium");
  return found;
}

const browser = chromium();
const work = mkdtempSync(join(tmpdir(), 'triad-shots-'));
try {
  for (const [name, stopped] of [['compliant', 0], ['breached', 14 * H]]) {
    const html = join(work, `${name}.html`);
    writeFileSync(html, renderReportHtml([buildPolicyReport(input(stopped))]));
    const png = join(ROOT, 'docs', `report-${name}.png`);
    execFileSync(browser, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', `--screenshot=${png}`, '--window-size=1000,1700', `file://${html}`], { stdio: 'ignore', timeout: 120_000 });
    console.log(`wrote ${png}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
