import { mkdtempSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.js';
import { azuriteForSuite, s3rverForSuite } from '../helpers/emulators.js';
import { PASS, tempDir, triadAsync, writePolicy } from '../helpers/triad.js';

// Four hosts (four triad processes, each with its own tree, policy and catalogue, the host
// name given by `backup --host`) back up at the same time, three rounds, into one s3rver
// bucket, one azurite container and one local path; in the last round host A also runs
// `forget --prune`. Afterwards every target checks clean with its data read, every snapshot
// of every host restores byte for byte, and the file all four hosts hold is stored once.
const HOSTS = ['ha', 'hb', 'hc', 'hd'];
const ROUNDS = 3;
const SHARED_SIZE = 2 * 1024 * 1024;
const TARGETS = ['nas', 's3', 'azure'];

function bytes(seed: number, size: number): Buffer {
  const rnd = seededRandom(seed);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) out.writeUInt32LE(Math.floor(rnd.next() * 0x1_0000_0000), i);
  return out;
}

describe('four hosts, one repository on three targets', () => {
  const suite = s3rverForSuite(mkdtempSync(join(tmpdir(), 'triad-four-hosts-')));
  const azurite = azuriteForSuite();

  it('concurrent backups of four hosts with a forget --prune in the last round: check clean, every snapshot restores, shared data stored once', async () => {
    const dir = tempDir();
    const nas = join(dir, 'nas');
    const shared = bytes(1, SHARED_SIZE);
    const targets = { nas: { type: 'local', path: nas, media: 'nas', offsite: false }, s3: suite.s3.policyFields({ prefix: 'fleet/' }), azure: azurite.az.policyFields({ prefix: 'fleet/' }) };
    const env = { ...PASS, ...suite.s3.env, ...azurite.az.env };
    const policies = new Map<string, string>();
    for (const host of HOSTS) {
      const home = join(dir, host);
      mkdirSync(join(home, 'src'), { recursive: true });
      writeFileSync(join(home, 'src', 'shared.bin'), shared);
      policies.set(host, writePolicy(home, { name: 'srv', sources: [join(home, 'src')], targets, rule: 'none', extra: { retention: { keep_last: 2 } } }));
    }
    const policy = (h: string) => policies.get(h)!;
    const run = async (args: string[]) => {
      const r = await triadAsync(args, { env });
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
      return r;
    };
    await run(['init', '-p', policy('ha')]);

    /** What each snapshot must restore to: host → round → its own file. */
    const own = (host: string, round: number) => bytes(100 + HOSTS.indexOf(host) * 10 + round, 64 * 1024);
    for (let round = 0; round < ROUNDS; round++) {
      for (const h of HOSTS) writeFileSync(join(dir, h, 'src', 'own.bin'), own(h, round));
      const jobs = HOSTS.map((h) => run(['backup', '-p', policy(h), '--host', h, '--wait', '3m']));
      if (round === ROUNDS - 1) jobs.push(run(['forget', '-p', policy('ha'), '--host', 'ha', '--prune', '--wait', '3m']));
      await Promise.all(jobs);
    }

    for (const t of TARGETS) await run(['check', '-p', policy('hb'), '--target', t, '--read-data']);

    // ha keeps its last 2 snapshots, or 3 when the forget ran before ha's last backup; the
    // others keep all 3 (forget never touches another host's snapshots).
    const listed = JSON.parse((await run(['snapshots', '-p', policy('hc'), '--all-hosts', '--json'])).stdout) as { snapshots: { id: string; host: string; time: string }[] };
    const count = (h: string) => listed.snapshots.filter((s) => s.host === h).length;
    expect([2, 3]).toContain(count('ha'));
    expect(HOSTS.slice(1).map(count)).toEqual([3, 3, 3]);

    // Every snapshot restores byte for byte, each from one of the three targets in turn.
    const snaps = listed.snapshots.map((s) => ({ ...s, round: ROUNDS - listed.snapshots.filter((o) => o.host === s.host && o.time > s.time).length - 1 }));
    for (let i = 0; i < snaps.length; i += 3) {
      await Promise.all(
        snaps.slice(i, i + 3).map(async (s, j) => {
          const target = TARGETS[(i + j) % TARGETS.length]!;
          const to = join(dir, 'restored', `${s.host}-${s.id}`);
          await run(['restore', '-p', policy('hd'), s.id, '--host', s.host, '--target', target, '--to', to]);
          expect(readFileSync(join(to, 'src', 'own.bin')).equals(own(s.host, s.round)), `${s.host} round ${s.round} from ${target}`).toBe(true);
          expect(readFileSync(join(to, 'src', 'shared.bin')).equals(shared)).toBe(true);
        }),
      );
    }

    // The 2 MiB file all four hosts hold is stored once: the packs on the NAS hold less than
    // twice its size (four copies would be 8 MiB), with every host's own files besides.
    const packBytes = (root: string): number =>
      readdirSync(root, { withFileTypes: true }).reduce((sum, e) => sum + (e.isDirectory() ? packBytes(join(root, e.name)) : statSync(join(root, e.name)).size), 0);
    const stored = packBytes(join(nas, 'data'));
    expect(stored).toBeGreaterThan(SHARED_SIZE);
    expect(stored).toBeLessThan(SHARED_SIZE + HOSTS.length * ROUNDS * 64 * 1024 + 256 * 1024);
  }, 600_000);
});
