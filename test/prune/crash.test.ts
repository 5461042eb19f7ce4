import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRY, PASS, ROOT, scratchDir, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';
import { bytes } from '../helpers/tree.js';
import { seededRandom } from '../../src/core/random.js';
import { contents, filesUnder } from './helpers.js';

/** Starts the CLI and SIGKILLs it after `ms`; resolves with its exit code or signal. */
function runAndKill(args: string[], ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [ENTRY, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...PASS }, stdio: 'ignore' });
    const t = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('error', rej);
    p.on('exit', (code, signal) => {
      clearTimeout(t);
      res({ code, signal });
    });
  });
}

describe('prune killed with SIGKILL at seeded points never damages a remaining snapshot', () => {
  const work = scratchDir();
  const src = join(work, 'src');
  let policy: string;
  const snaps: { id: string; files: Map<string, Buffer> }[] = [];
  const SEED = 20261126;

  beforeAll(() => {
    mkdirSync(src);
    policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas'), media: 'nas' } }, rule: 'none', extra: 'retention:\n  keep_last: 6\n' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    writeFileSync(join(src, 'shared.bin'), bytes(1, 1500 * 1024));
    for (let i = 0; i < 6; i++) {
      if (i > 0) unlinkSync(join(src, `u${i - 1}.bin`));
      writeFileSync(join(src, `u${i}.bin`), bytes(50 + i, 800 * 1024));
      const r = triad(['backup', '-p', policy, '--time', `2024-06-0${i + 1}T08:00:00Z`, '--json'], { env: PASS });
      expect(r.code, r.stderr).toBe(0);
      snaps.push({ id: JSON.parse(r.stdout).snapshot, files: contents(src) });
    }
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const verify = (remaining: typeof snaps) => {
    const c = triad(['check', '-p', policy, '--read-data', '--json'], { env: PASS });
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect(JSON.parse(c.stdout).targets[0].snapshots).toBe(remaining.length);
    for (const s of remaining) {
      const to = tempDir();
      const r = triad(['restore', '-p', policy, s.id, '--to', to], { env: PASS });
      expect(r.code, r.stderr).toBe(0);
      const got = contents(join(to, readdirSync(to)[0]!));
      expect([...got.keys()].sort()).toEqual([...s.files.keys()].sort());
      for (const [k, v] of s.files) expect(got.get(k)!.equals(v), `${s.id.slice(0, 8)} ${k}`).toBe(true);
    }
  };

  it('forget one more snapshot, then kill prune at a seeded moment; repeat; then prune to the end', async () => {
    const rnd = seededRandom(SEED);
    const outcomes: string[] = [];
    for (let keep = 5; keep >= 2; keep--) {
      writeFileSync(policy, readFileSync(policy, 'utf8').replace(/keep_last: \d+/, `keep_last: ${keep}`));
      const f = triad(['forget', '-p', policy], { env: PASS });
      expect(f.code, f.stderr).toBe(0);
      const delay = 250 + Math.floor(rnd.next() * 1200);
      const r = await runAndKill(['prune', '-p', policy, '--unindexed-grace', '0'], delay);
      outcomes.push(r.signal ?? `exit ${r.code}`);
      if (r.signal === null) expect(r.code).toBe(0);
      verify(snaps.slice(6 - keep));
    }
    // At least one run must actually have been killed, or the test proves nothing.
    expect(outcomes.filter((o) => o === 'SIGKILL').length, outcomes.join(',')).toBeGreaterThan(0);
    // Stale locks of the killed runs do not block the final prune; it removes everything left over.
    const p = triad(['prune', '-p', policy, '--unindexed-grace', '0', '--json'], { env: PASS });
    expect(p.code, p.stderr).toBe(0);
    verify(snaps.slice(4));
    const dry = JSON.parse(triad(['prune', '-p', policy, '--dry-run', '--json'], { env: PASS }).stdout).targets[0].plan;
    expect(dry.remove.length + dry.repack.length + dry.removeUnindexed.length + dry.keepUnindexed.length).toBe(0);
    expect(filesUnder(join(work, 'nas', 'locks')).size).toBe(0);
  }, 240_000);
});
