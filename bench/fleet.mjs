// `npm run bench -- --fleet [--hosts N] [--snapshots S]`: `triad fleet report` over one repository
// that N hosts back up into, S hourly snapshots each. The history is written cheaply through the
// repository's own API (the snapshot manifests and backup journal records a backup writes, with
// the policy digest), not by running N × S backups; the report reads only those objects. Measured
// at S/10 and S snapshots per host: wall time and peak RSS of the whole `fleet report` process, so
// the two rows show how time and memory grow with the history.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseFlags, wholeNumber } from './args.mjs';
import { run, method } from './measure.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const ROOT = path.resolve(HERE, '..');
const BIN = path.join(ROOT, 'bin', 'triad');
const T0 = Date.parse('2026-01-01T00:00:00Z');
const HOUR = 3_600_000;
const PASSPHRASE = 'fleet bench passphrase';

const USAGE = `usage: npm run bench -- --fleet [--hosts N] [--snapshots S] [--keep]
  --hosts N       hosts sharing the repository (default 8)
  --snapshots S   hourly snapshots per host (default 1000); also measured at S/10
environment: TRIAD_BENCH_DIR (default bench/.corpus) holds the work dir (bench/.corpus/fleet).`;

function parseArgs(argv) {
  const o = { hosts: 8, snapshots: 1000, keep: false };
  const whole = (v, name) => wholeNumber(v, name, 1, USAGE);
  parseFlags(argv, { '--hosts': (v) => (o.hosts = whole(v(), '--hosts')), '--snapshots': (v) => (o.snapshots = whole(v(), '--snapshots')), '--keep': () => (o.keep = true) }, USAGE);
  return o;
}

/** Writes `perHost` hourly snapshots and their backup journal records for each host, as a backup would. */
async function writeHistory(repoDir, hosts, perHost) {
  const { openStorage } = await import(path.join(ROOT, 'dist', 'backends', 'open.js'));
  const { Repository } = await import(path.join(ROOT, 'dist', 'repo', 'repository.js'));
  const { sealSnapshot, writeJournal } = await import(path.join(ROOT, 'dist', 'repo', 'model', 'index.js'));
  const storage = await openStorage({ name: 'nas', type: 'local', path: repoDir, media: 'nas', offsite: false, immutable: false, offline: false, upload_limit: 0 }, { env: {} });
  const repo = await Repository.open('nas', storage, PASSPHRASE);
  const digest = {
    rule: 'none', timezone: 'UTC', production: { media: 'disk' }, objectives: { rpo: 2 * HOUR, rto: 4 * HOUR, window: 30 * 24 * HOUR },
    restore_test: { every: 30 * 24 * HOUR }, verify: { every: 30 * 24 * HOUR }, keys: {},
    targets: [{ name: 'nas', type: 'local', media: 'nas', offsite: false, immutable: false, offline: false }],
  };
  const summary = { files: 10, dirs: 2, bytes: 40960, filesNew: 1, filesChanged: 1, filesUnchanged: 8, bytesRead: 8192, dataAdded: 8192, dataAddedPacked: 4200, blobsNew: 2, warnings: 0 };
  const tree = 'ab'.repeat(32);
  for (let h = 0; h < hosts; h++) {
    const host = `host${h}`;
    const jobs = [];
    for (let i = 0; i < perHost; i++) {
      const time = new Date(T0 + i * HOUR + h * 60_000).toISOString();
      const finished = new Date(T0 + i * HOUR + h * 60_000 + 30_000).toISOString();
      const manifest = { version: 1, time, finished, policy: `srv${h % 3}`, host, paths: ['/srv'], tree, partial: false, tags: [], summary };
      jobs.push((async () => {
        const { id, sealed } = sealSnapshot(repo, manifest);
        await storage.save(`snapshots/${id}`, sealed);
        await writeJournal([repo], {
          version: 1, kind: 'backup', policy: manifest.policy, host, started: time, finished, status: 'ok', exitCode: 0, snapshot: id,
          targets: [{ name: 'nas', ok: true, location: storage.location, bytesWritten: 4200, packs: 1 }], bytesRead: 8192, bytesWritten: 4200, files: 10,
          details: { summary, partial: false, time, paths: ['/srv'], tree, policy: digest },
        });
      })());
      if (jobs.length >= 64) await Promise.all(jobs.splice(0));
    }
    await Promise.all(jobs);
  }
  await storage.close();
}

export async function runFleet(argv) {
  const o = parseArgs(argv);
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) return 1;
  const base = path.join(process.env.TRIAD_BENCH_DIR || path.join(HERE, '.corpus'), 'fleet');
  fs.rmSync(base, { recursive: true, force: true });
  fs.mkdirSync(base, { recursive: true });
  const env = { ...process.env, FLEET_BENCH_PASSPHRASE: PASSPHRASE };
  console.log(`fleet report bench: ${o.hosts} hosts; measured with ${method}`);
  const rows = [];
  for (const perHost of [...new Set([Math.max(1, Math.floor(o.snapshots / 10)), o.snapshots])]) {
    const dir = path.join(base, `s${perHost}`);
    const repoDir = path.join(dir, 'repo');
    const policy = path.join(dir, 'init.yaml');
    fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
    fs.writeFileSync(policy, JSON.stringify({ version: 1, policy: 'init', catalog: path.join(dir, 'catalog.db'), sources: [{ path: path.join(dir, 'src') }], encryption: { passphrase_env: 'FLEET_BENCH_PASSPHRASE' }, targets: { nas: { type: 'local', path: repoDir, media: 'nas' } }, rule: 'none' }));
    const init = spawnSync(process.execPath, [BIN, 'init', '-p', policy], { env, encoding: 'utf8' });
    if (init.status !== 0) {
      console.error(init.stderr);
      return 1;
    }
    const t = Date.now();
    await writeHistory(repoDir, o.hosts, perHost);
    const wrote = (Date.now() - t) / 1000;
    const at = new Date(T0 + perHost * HOUR).toISOString();
    const m = await run(process.execPath, [BIN, 'fleet', 'report', '--repo', repoDir, '--passphrase-env', 'FLEET_BENCH_PASSPHRASE', '--at', at, '--format', 'json'], { cwd: dir, env, logDir: dir, name: 'fleet-report' });
    if (m.exit !== 0 && m.exit !== 4) {
      console.error(`fleet report exited ${m.exit}: ${m.stderr}`);
      return 1;
    }
    const doc = JSON.parse(fs.readFileSync(path.join(dir, 'fleet-report.out'), 'utf8'));
    const row = { hosts: o.hosts, snapshots_per_host: perHost, snapshots: doc.repository.snapshots, records: doc.repository.journalRecords, pairs: doc.policies.length, history_written_s: wrote, wall_s: m.wall_s, cpu_s: m.cpu_s, peak_rss_mib: m.peak_rss_mib };
    rows.push(row);
    console.log(`${o.hosts} hosts × ${perHost} snapshots (${row.snapshots} snapshots, ${row.records} journal records, ${row.pairs} host × policy): fleet report wall ${m.wall_s.toFixed(2)} s, cpu ${m.cpu_s?.toFixed(2) ?? '?'} s, peak RSS ${m.peak_rss_mib.toFixed(0)} MiB`);
  }
  if (!o.keep) fs.rmSync(base, { recursive: true, force: true });
  console.log(JSON.stringify(rows));
  return 0;
}
